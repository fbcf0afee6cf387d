from . import controllers
from . import models
from . import wizard


def post_load():
    """Serve webhook deliveries in front of Odoo's request dispatch (see controllers/fast_path.py)."""
    from .controllers import fast_path
    fast_path.install()
