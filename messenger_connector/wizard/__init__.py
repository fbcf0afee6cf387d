from . import messenger_template_send
