"""``native`` picks the compiled modules unless LINEGATE_PURE_PYTHON forces the twins."""

from __future__ import annotations

import os
import subprocess
import sys


def _implementation(env_value: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k != "LINEGATE_PURE_PYTHON"}
    if env_value is not None:
        env["LINEGATE_PURE_PYTHON"] = env_value
    code = (
        "import native, native.checksums as c;"
        "print(native.implementation(), c.IMPLEMENTATION, native.available())"
    )
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return out.stdout.strip()


def test_compiled_by_default() -> None:
    assert _implementation(None) == "cython cython True"


def test_pure_python_forced() -> None:
    assert _implementation("1") == "python python False"


def test_zero_does_not_force() -> None:
    assert _implementation("0") == "cython cython True"
