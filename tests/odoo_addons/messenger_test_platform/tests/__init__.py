from . import test_ping_platform
