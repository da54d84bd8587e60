"""Every Python example in the test kit's docs runs as it stands there.

A page's fenced blocks become the files of a fresh project in a temporary folder: a block whose
first line is a path comment (``# conftest.py``, ``# lines/drives.toml``) is written to that
path, any other ``python`` block to ``test_example_<n>.py`` (one with a ``def test_``) or to a
script ``example_<n>.py``. The tests then run in one pytest session in a subprocess with
pytest's and pytest-asyncio's defaults (strict mode) and linegate's plugin loaded through its
entry point, the way an integrator's project runs them; the scripts run with ``python``. Every
test file must report its tests passed (or skipped, for a broker that is not there).
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from importlib.metadata import entry_points
from pathlib import Path

import pytest

import gateway

SOURCE = Path(gateway.__file__).resolve().parent.parent
DOCS = SOURCE / "docs"
# Pages with examples for the test kit.
PAGES = ["testing.md", "cfx.md"]

_FENCE = re.compile(r"^```(\w*)[^\n]*\n(.*?)^```[ \t]*$", re.DOTALL | re.MULTILINE)
_PATH = re.compile(r"#\s*([\w./-]+\.(?:py|toml))\s*$")


@dataclass(frozen=True, slots=True)
class Example:
    """One fenced block: where it goes in the project and what it holds."""

    path: str
    text: str
    line: int  # in the Markdown page, for messages

    @property
    def is_test(self) -> bool:
        return Path(self.path).name.startswith("test_")

    @property
    def is_script(self) -> bool:
        return Path(self.path).name.startswith("example_")


def examples(page: str) -> list[Example]:
    """The runnable blocks of ``docs/<page>`` (``python`` ones, and any with a path comment)."""
    markdown = (DOCS / page).read_text(encoding="utf-8")
    found: list[Example] = []
    for number, match in enumerate(_FENCE.finditer(markdown), start=1):
        language, text = match.group(1), match.group(2)
        line = markdown.count("\n", 0, match.start()) + 1
        first = text.split("\n", 1)[0]
        named = _PATH.fullmatch(first.strip())
        if named is not None:
            found.append(Example(named.group(1), text, line))
        elif language == "python":
            kind = "test_example" if re.search(r"^(async )?def test_", text, re.MULTILINE) else "example"
            found.append(Example(f"{kind}_{number}.py", text, line))
    return found


def _environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}
    # The tree under test first: the venv's editable install may be another checkout.
    env["PYTHONPATH"] = str(SOURCE)
    return env


def test_the_pages_have_examples() -> None:
    """The extraction finds the blocks (a change of fence style must not silently skip them)."""
    found = examples("testing.md")
    assert "conftest.py" in {e.path for e in found}
    assert "lines/drives.toml" in {e.path for e in found}
    assert sum(e.is_test for e in found) >= 5
    assert [e.path for e in examples("cfx.md") if e.is_script]


@pytest.mark.skipif(
    not any(e.value == "gateway.testing.plugin" for e in entry_points(group="pytest11")),
    reason="linegate is not installed with its pytest11 entry point",
)
@pytest.mark.timeout(300)  # one pytest session starting several simulated lines and a cluster
@pytest.mark.parametrize("page", PAGES)
def test_the_examples_of_a_page_run(page: str, tmp_path: Path) -> None:
    """Each test example passes, each script exits 0, in a project made of the page's blocks."""
    found = examples(page)
    for example in found:
        target = tmp_path / example.path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(example.text, encoding="utf-8")
    # A project of its own, on pytest's and pytest-asyncio's defaults.
    (tmp_path / "pytest.ini").write_text(
        "[pytest]\nasyncio_default_fixture_loop_scope = function\n", encoding="utf-8"
    )
    for script in (e for e in found if e.is_script):
        run = subprocess.run(
            [sys.executable, script.path],
            cwd=tmp_path,
            env=_environment(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert run.returncode == 0, f"docs/{page} line {script.line}:\n{run.stdout}{run.stderr}"
    tests = [e for e in found if e.is_test]
    if not tests:
        return
    report = tmp_path / "report.xml"
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", f"--junitxml={report}"]
        + [e.path for e in tests],
        cwd=tmp_path,
        env=_environment(),
        capture_output=True,
        text=True,
        timeout=240,
    )
    output = run.stdout + run.stderr
    assert run.returncode == 0, f"docs/{page}:\n{output}"
    ran: dict[str, int] = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        module = case.get("classname", "").split(".")[0]
        problems = [child.tag for child in case if child.tag in ("failure", "error")]
        assert not problems, f"docs/{page}: {case.get('name')}: {problems}\n{output}"
        ran[module] = ran.get(module, 0) + 1
    for example in tests:
        module = Path(example.path).stem
        assert ran.get(module), f"docs/{page} line {example.line}: no test ran\n{output}"
