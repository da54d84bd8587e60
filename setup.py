"""Build script for the Cython hot paths in ``native/``.

Metadata lives in pyproject.toml; this file only declares the extension modules.
Set LINEGATE_PURE_PYTHON_BUILD=1 to skip compiling (the package then runs on the twins).
"""

import os
from pathlib import Path

from setuptools import Extension, setup

here = Path(__file__).parent
ext_modules: list[Extension] = []
if os.environ.get("LINEGATE_PURE_PYTHON_BUILD") != "1":
    from Cython.Build import cythonize

    sources = sorted((here / "native").glob("_*.pyx"))
    extensions = [
        Extension(f"native.{pyx.stem}", [str(pyx.relative_to(here))], extra_compile_args=["-O3"])
        for pyx in sources
    ]
    ext_modules = cythonize(
        extensions,
        language_level="3",
        compiler_directives={"boundscheck": False, "wraparound": False, "cdivision": True},
    )

setup(ext_modules=ext_modules)
