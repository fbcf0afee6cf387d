"""The one way to import the addon's provider layer without Odoo (pure tests, tools, bench scripts).

``messenger_connector/__init__.py`` imports odoo; the provider layer does not. An empty package object
standing for the addon lets ``import messenger_connector.providers`` load only that layer.
"""
import pathlib
import sys
import types

ADDON = pathlib.Path(__file__).resolve().parents[2] / "messenger_connector"


def import_providers(addon=ADDON):
    """The ``messenger_connector.providers`` package of the addon at ``addon`` (a folder), without Odoo."""
    package = sys.modules.get("messenger_connector")
    if package is None:
        package = types.ModuleType("messenger_connector")
        package.__path__ = [str(addon)]
        sys.modules["messenger_connector"] = package
    import messenger_connector.providers as providers  # noqa: PLC0415 - after the package stands in
    return providers
