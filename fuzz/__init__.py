"""Fuzz harnesses for every decoder that reads network bytes, and the campaign runner.

``make fuzz`` runs :mod:`fuzz.runner`: each harness in its own process under atheris
(libFuzzer), one after another, ``FUZZ_RUNS`` inputs each, then a summary table. The quick
test ``tests/test_fuzz_harnesses.py`` runs every harness for a handful of inputs so they cannot
rot. See ``docs/fuzzing.md``.
"""
