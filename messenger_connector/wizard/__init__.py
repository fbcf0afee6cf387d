from . import messenger_compose
from . import messenger_template_send
