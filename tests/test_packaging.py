"""The project installs like the OCA's addons on PyPI: a wheel that puts messenger_connector on Odoo's path.

The wheel is built from the project root (pyproject.toml, whool) without network or build isolation, then
installed with --no-deps into a throw-away virtual environment.
"""
import importlib.util
import os
import pathlib
import subprocess
import sys
import sysconfig
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
ADDON_PREFIX = "odoo/addons/messenger_connector/"


def _run(*args, **kwargs):
    result = subprocess.run(args, capture_output=True, text=True, timeout=300, **kwargs)
    assert result.returncode == 0, f"{' '.join(map(str, args))} failed:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def _odoo_home():
    """The Odoo 18 source folder to check the installed addon against, or None."""
    home = os.environ.get("ODOO_HOME")
    if home:
        return pathlib.Path(home)
    spec = importlib.util.find_spec("odoo")  # located, not imported
    return pathlib.Path(spec.origin).resolve().parents[1] if spec and spec.origin else None


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    try:
        import whool  # noqa: F401 - the build backend, used without build isolation
    except ImportError:
        pytest.fail("whool is missing: pip install -r requirements.txt (it builds the addon's wheel)")
    out = tmp_path_factory.mktemp("dist")
    _run(sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
         "--wheel-dir", str(out), str(ROOT), cwd=out)
    wheels = list(out.glob("*.whl"))
    assert len(wheels) == 1, wheels
    return wheels[0]


@pytest.fixture(scope="module")
def venv(tmp_path_factory, wheel):
    """A throw-away virtual environment with the wheel installed (and nothing else)."""
    path = tmp_path_factory.mktemp("venv")
    _run(sys.executable, "-m", "venv", "--without-pip", str(path))
    python = path / "bin" / "python"
    _run(sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index",
         "--disable-pip-version-check", str(wheel))
    site = pathlib.Path(_run(str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])")
                        .strip())
    return python, site


def test_wheel_holds_the_addon_only(wheel):
    assert wheel.name.startswith("odoo_addon_messenger_connector-18.0.")
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
        metadata = next(n for n in names if n.endswith(".dist-info/METADATA"))
        requires = [line for line in archive.read(metadata).decode().splitlines() if line.startswith("Requires")]
    assert ADDON_PREFIX + "__manifest__.py" in names
    assert ADDON_PREFIX + "providers/whatsapp.py" in names
    assert ADDON_PREFIX + "i18n/de.po" in names
    outside = [n for n in names if not n.startswith(ADDON_PREFIX) and ".dist-info/" not in n]
    assert outside == [], "only the addon is shipped (no tests/, tools/, bench/ of the project)"
    assert not [n for n in names if "__pycache__" in n or n.endswith(".pyc")]
    assert not [n for n in names if "fake" in n.lower()], "the local fake platforms are test tooling"
    assert ADDON_PREFIX + "pyproject.toml" not in names
    # Odoo 18 itself plus the addon's external_dependencies.
    assert "Requires-Dist: odoo==18.0.*" in requires
    assert {"Requires-Dist: requests", "Requires-Dist: phonenumbers"} <= set(requires)


def test_installed_where_odoo_looks_for_addons(venv):
    _python, site = venv
    manifest = site / "odoo" / "addons" / "messenger_connector" / "__manifest__.py"
    assert manifest.is_file()
    assert "'name': 'Messenger Connector'" in manifest.read_text().replace('"', "'")
    # Odoo's own package is not in the wheel: the addon joins the odoo.addons namespace of the Odoo installed.
    assert not (site / "odoo" / "__init__.py").exists()


def test_odoo_finds_the_installed_addon(venv):
    home = _odoo_home()
    if home is None:
        if os.environ.get("CI") == "true":
            pytest.fail("ODOO_HOME is not set and odoo is not importable: the wheel cannot be checked with Odoo")
        pytest.skip("needs Odoo 18: set ODOO_HOME to its source folder")
    python, site = venv
    # The throw-away environment sees Odoo and its requirements (those of this interpreter), not this project.
    (site / "odoo_for_test.pth").write_text(f"{home}\n{sysconfig.get_paths()['purelib']}\n")
    out = _run(str(python), "-c", (
        "import odoo.release, odoo.addons\n"
        "from odoo.modules.module import get_manifest, get_module_path\n"
        "print(odoo.release.version_info[0])\n"
        "print(get_module_path('messenger_connector', display_warning=False))\n"
        "print(get_manifest('messenger_connector')['name'])\n"
    ), cwd=str(site.parent))
    version, path, name = out.strip().splitlines()[-3:]
    assert version == "18"
    assert pathlib.Path(path) == site / "odoo" / "addons" / "messenger_connector"
    assert name == "Messenger Connector"
