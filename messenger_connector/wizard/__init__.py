from . import messenger_template_param
from . import messenger_template_send
from . import messenger_compose
from . import messenger_consent_record
from . import messenger_data_request
from . import messenger_legal_hold_change
from . import messenger_x_chat_unlock
from . import messenger_contact_change
