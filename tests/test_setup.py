"""The set-up (scripts/setup) and CI's strictness, run as a user would, in a copy of the project.

Each test copies the project without its .venv/.odoo into a temporary folder and runs the scripts there with
a Python that cannot import Odoo, so that nothing of this machine's own set-up is reused.
"""
import io
import os
import pathlib
import shutil
import subprocess
import sys
import tarfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
BASE_PYTHON = shutil.which("python3", path=os.path.join(sys.base_prefix, "bin")) or sys.executable


def _can_import_odoo(python):
    return subprocess.run([python, "-c", "import odoo"], capture_output=True).returncode == 0


pytestmark = pytest.mark.skipif(_can_import_odoo(BASE_PYTHON),
                                reason="this machine's base python3 imports Odoo, so the set-up would use it")


@pytest.fixture
def project(tmp_path):
    copy = tmp_path / "project"
    shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns(
        ".git", ".venv", ".odoo", "__pycache__", ".pytest_cache", "out", "results", "build", "dist"))
    return copy


def _env(**extra):
    env = {k: v for k, v in os.environ.items() if k not in ("ODOO_HOME", "ODOO_SOURCE", "PYTHON", "VIRTUAL_ENV")}
    env["PATH"] = os.pathsep.join([os.path.dirname(BASE_PYTHON), env.get("PATH", "")])
    env.update(extra)
    return env


def _run(project, cmd, **env):
    return subprocess.run(cmd, cwd=project, env=_env(**env), capture_output=True, text=True, timeout=300)


def _archive(path, release_py, top="odoo-18.0", extra=()):
    """A small tree shaped like Odoo's source (odoo-bin, odoo/release.py, addons/crm, requirements.txt)."""
    with tarfile.open(path, "w:gz") as tar:
        files = {"odoo-bin": b"#!/usr/bin/env python3\n", "odoo/release.py": release_py.encode(),
                 "addons/crm/__manifest__.py": b"{}", "requirements.txt": b""}
        files.update(dict(extra))
        for name, data in files.items():
            info = tarfile.TarInfo(f"{top}/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_corrupt_archive_is_refused_with_a_message(project, tmp_path):
    broken = tmp_path / "odoo-18.0.tar.xz"
    broken.write_bytes(b"\xfd7zXZ\x00 this is not a whole archive")
    result = _run(project, [BASE_PYTHON, "scripts/setup"], ODOO_SOURCE=str(broken))
    assert result.returncode != 0
    assert "cannot be unpacked" in result.stderr and "corrupt" in result.stderr
    assert "Traceback" not in result.stdout + result.stderr
    assert not (project / ".odoo" / "odoo-18.0").exists()
    assert not list((project / ".odoo").glob(".unpacking-*")), "a failed unpack leaves nothing half-made"


def test_archive_with_a_bad_checksum_is_refused(project, tmp_path):
    archive = _archive(tmp_path / "odoo-18.0.tar.gz", "version_info = (18, 0, 0, 'final', 0, '')\n")
    (tmp_path / "SHA256SUMS").write_text("0" * 64 + "  odoo-18.0.tar.gz\n")
    result = _run(project, [BASE_PYTHON, "scripts/setup"], ODOO_SOURCE=str(archive))
    assert result.returncode != 0
    assert "does not match its checksum" in result.stderr
    assert "Traceback" not in result.stderr


def test_archive_of_another_odoo_version_is_refused(project, tmp_path):
    archive = _archive(tmp_path / "odoo-17.0.tar.gz", "version_info = (17, 0, 0, 'final', 0, '')\n",
                       top="odoo-17.0")
    result = _run(project, [BASE_PYTHON, "scripts/setup"], ODOO_SOURCE=str(archive))
    assert result.returncode != 0
    assert "is not Odoo 18.0 (found 17.0)" in result.stderr
    assert not (project / ".odoo" / "odoo-18.0").exists()


def test_odoo_home_that_is_not_odoo_is_refused(project, tmp_path):
    result = _run(project, [BASE_PYTHON, "scripts/setup"], ODOO_HOME=str(tmp_path))
    assert result.returncode != 0
    assert "is not an Odoo source tree: there is no odoo-bin in it" in result.stderr
    assert "Traceback" not in result.stderr


def test_half_finished_unpack_is_repaired(project, tmp_path):
    """A leftover of an interrupted unpack is thrown away; the tree is unpacked whole and marked."""
    leftover = project / ".odoo" / ".unpacking-interrupted"
    (leftover / "odoo").mkdir(parents=True)
    archive = _archive(tmp_path / "odoo-18.0.tar.gz", "version_info = (18, 0, 0, 'final', 0, '')\n")
    # the Python step then fails on purpose (a Python outside 3.10-3.12 is refused before anything is built)
    result = _run(project, [BASE_PYTHON, "-c", (
        "import runpy, sys; sys.version_info = (3, 9, 0); sys.argv = ['setup']; "
        "runpy.run_path('scripts/setup', run_name='__main__')")], ODOO_SOURCE=str(archive))
    assert "removing a half-finished earlier set-up" in result.stdout
    assert not leftover.exists()
    tree = project / ".odoo" / "odoo-18.0"
    assert (tree / "odoo-bin").is_file() and (tree / ".messenger-source").is_file()
    assert "Odoo 18 needs Python 3.10 to 3.12" in result.stderr and result.returncode != 0
    # a second run finds the tree in place instead of unpacking again
    again = _run(project, [BASE_PYTHON, "-c", (
        "import runpy, sys; sys.version_info = (3, 9, 0); sys.argv = ['setup']; "
        "runpy.run_path('scripts/setup', run_name='__main__')")], ODOO_SOURCE=str(archive))
    assert "is in place" in again.stdout and "unpacking" not in again.stdout


def test_ci_fails_when_the_odoo_suite_cannot_run(project, tmp_path):
    """.ci/run (CI=true) with a broken ODOO_SOURCE: a failure, never a skip; without CI it is a skip."""
    broken = tmp_path / "odoo-18.0.tar.xz"
    broken.write_bytes(b"not an archive")
    # only the Odoo part of the test command: the pure suite is the one running this test
    ci = _run(project, ["bash", ".ci/run"], ODOO_SOURCE=str(broken), CI="true", MC_TEST_SUITES="odoo")
    assert ci.returncode != 0
    assert "FAILED: the Odoo suite cannot run" in ci.stdout
    assert ci.stdout.strip().splitlines()[-1] == "total: 0 passed, 1 failed"
    local = _run(project, ["scripts/test"], ODOO_SOURCE=str(broken), CI="", MC_TEST_SUITES="odoo")
    assert local.returncode == 0 and "SKIPPED: the Odoo suite did not run" in local.stdout
