from . import messenger_account
