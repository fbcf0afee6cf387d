from . import ping_provider
from . import models
