from . import messenger_account
from . import messenger_conversation
from . import messenger_message
from . import messenger_event
from . import res_partner
