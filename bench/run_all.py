"""Runs every benchmark script in bench/ in its own process and prints their figures in order."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path


def main() -> int:
    here = Path(__file__).parent
    # The soak runs for minutes; `make soak` runs it on its own.
    skip = {"run_all.py", "__init__.py", "soak.py"}
    scripts = sorted(p for p in here.glob("*.py") if p.name not in skip)
    failed = []
    for script in scripts:
        print(f"\n## {script.stem}", flush=True)
        if subprocess.run([sys.executable, str(script)], check=False).returncode != 0:
            failed.append(script.name)
    if failed:
        print(f"\nfailed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
