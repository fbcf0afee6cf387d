"""Build backend of the project root: ``pip install .`` installs the messenger_connector addon.

whool (the OCA's build backend for Odoo addons) builds from the addon's own folder, where
messenger_connector/pyproject.toml names it; this backend runs it there, so the root and the addon folder
give the same wheel, ``odoo_addon_messenger_connector``, which puts the addon at odoo/addons/ in
site-packages. Only the addon's files are packed: tests/, tools/ and bench/ of the root stay out.
"""
import contextlib
import os
from pathlib import Path

from whool import buildapi

ADDON_DIR = Path(__file__).resolve().parents[1] / "messenger_connector"


@contextlib.contextmanager
def _in_addon_dir():
    cwd = os.getcwd()
    os.chdir(ADDON_DIR)
    try:
        yield
    finally:
        os.chdir(cwd)


def build_wheel(wheel_directory, config_settings=None, metadata_directory=None):
    wheel_directory = os.path.abspath(wheel_directory)
    with _in_addon_dir():
        return buildapi.build_wheel(wheel_directory, config_settings, metadata_directory)


def build_editable(wheel_directory, config_settings=None, metadata_directory=None):
    wheel_directory = os.path.abspath(wheel_directory)
    with _in_addon_dir():
        return buildapi.build_editable(wheel_directory, config_settings, metadata_directory)


def build_sdist(sdist_directory, config_settings=None):
    # The sdist is the addon folder with its own pyproject.toml: whool builds it without this file.
    sdist_directory = os.path.abspath(sdist_directory)
    with _in_addon_dir():
        return buildapi.build_sdist(sdist_directory, config_settings)


def prepare_metadata_for_build_wheel(metadata_directory, config_settings=None):
    metadata_directory = os.path.abspath(metadata_directory)
    with _in_addon_dir():
        return buildapi.prepare_metadata_for_build_wheel(metadata_directory, config_settings)


prepare_metadata_for_build_editable = prepare_metadata_for_build_wheel
