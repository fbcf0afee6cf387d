from . import test_webhook
from . import test_identity
from . import test_outbound
from . import test_statuses
from . import test_access
