"""Without pytest-asyncio the plugin loads, breaks no unrelated suite, and says what to install.

The inner sessions run in a real venv (``python -m venv``) that holds everything this one holds
(linegate with its ``pytest11`` entry point, its dependencies, pytest) except pytest-asyncio.
Its site-packages links to this venv's entries one by one instead of installing them: building
linegate's dependencies from PyPI takes minutes (qpid-proton compiles), linking takes
milliseconds, and pytest sees the same thing either way: the distributions' metadata, hence
the entry points, and their modules. The linegate plugin is loaded the way an installed
linegate loads it, through its entry point, not ``-p``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import gateway

# PYTHONPATH puts the source tree under test first (the venv's editable install may be another
# checkout); the entry point names a module, so it loads the module from there.
SOURCE = Path(gateway.__file__).resolve().parent.parent
SITE_PACKAGES = Path(sysconfig.get_paths()["purelib"])

UNRELATED = """
def test_arithmetic():
    assert 1 + 1 == 2
"""

USES_A_FIXTURE = """
def test_uses_the_line(simulated_line):
    assert False, "never reached: the fixture fails first"
"""

pytestmark = pytest.mark.skipif(
    sys.prefix == sys.base_prefix
    or not any(e.value == "gateway.testing.plugin" for e in entry_points(group="pytest11")),
    reason="needs a venv with linegate installed (its pytest11 entry point)",
)


def _left_out(name: str) -> bool:
    return name.lower().replace("-", "_").startswith("pytest_asyncio")


@pytest.fixture(scope="module")
def bare_python(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The python of a venv with this venv's packages except pytest-asyncio."""
    venv = tmp_path_factory.mktemp("without-pytest-asyncio") / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=60)
    python = venv / "bin" / "python"
    target = subprocess.run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout.strip()
    for entry in SITE_PACKAGES.iterdir():
        if not _left_out(entry.name):
            (Path(target) / entry.name).symlink_to(entry)
    return python


def _run(python: Path, folder: Path, test_file: str) -> subprocess.CompletedProcess[str]:
    (folder / "test_it.py").write_text(test_file, encoding="utf-8")
    # An ini file of its own: the session is nobody's in particular (not linegate's config).
    (folder / "pytest.ini").write_text("[pytest]\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    env["PYTHONPATH"] = str(SOURCE)
    return subprocess.run(
        [str(python), "-m", "pytest", "-p", "no:cacheprovider", "-q", "test_it.py"],
        cwd=folder,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_the_venv_has_no_pytest_asyncio_and_loads_linegate(bare_python: Path) -> None:
    """The inner venv lacks pytest-asyncio and still lists linegate's entry point."""
    probe = subprocess.run(
        [
            str(bare_python),
            "-c",
            "from importlib.metadata import entry_points; import importlib.util as u; "
            "print(u.find_spec('pytest_asyncio'), sorted(e.value for e in entry_points(group='pytest11')))",
        ],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert probe.returncode == 0, probe.stderr
    assert probe.stdout.startswith("None "), probe.stdout
    assert "gateway.testing.plugin" in probe.stdout
    assert "pytest_asyncio" not in probe.stdout


def test_an_unrelated_suite_passes_without_pytest_asyncio(bare_python: Path, tmp_path: Path) -> None:
    """The plugin loads through its entry point and leaves a suite that does not use it alone."""
    result = _run(bare_python, tmp_path, UNRELATED)
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "1 passed" in output
    assert "Error while loading plugin" not in output
    assert "pytest_asyncio" not in output and "pytest-asyncio" not in output


def test_a_fixture_says_what_to_install(bare_python: Path, tmp_path: Path) -> None:
    """Using a fixture fails its setup with one message naming pytest-asyncio and the extra."""
    result = _run(bare_python, tmp_path, USES_A_FIXTURE)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "1 error" in output
    assert "linegate's pytest fixtures need pytest-asyncio" in output
    assert "pip install 'linegate[testing]'" in output
    assert "never reached" not in output
    assert "Traceback" not in output  # one message, not a trace through the plugin
