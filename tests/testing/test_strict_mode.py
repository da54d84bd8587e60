"""In pytest-asyncio's strict mode (its default) an unmarked async test fails at once, saying why."""

from __future__ import annotations

import pytest

from tests.testing.support import PLUGIN, SMALL_LINE

STRICT_INI = """
[pytest]
timeout = 60
asyncio_default_fixture_loop_scope = function
addopts = --strict-markers -p no:cacheprovider
"""


def test_an_unmarked_async_test_fails_before_the_line_starts(pytester: pytest.Pytester) -> None:
    """pytest-asyncio would skip the body after the whole line started; the plugin stops it first."""
    pytester.makeini(STRICT_INI)
    (pytester.path / "small.toml").write_text(SMALL_LINE, encoding="utf-8")
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.linegate_line("small.toml", boards=1)
        async def test_unmarked(simulated_line):
            raise AssertionError("not reached")

        @pytest.mark.asyncio
        @pytest.mark.linegate_line("small.toml", boards=1)
        async def test_marked(simulated_line):
            await simulated_line.wait_departed(1, timeout=30)
        """
    )
    result = pytester.runpytest("-p", PLUGIN, "--setup-show")
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(
        ["*test_unmarked is an async def test, which pytest-asyncio runs only when marked*asyncio*"]
    )
    setups = [line for line in result.outlines if "SETUP" in line and "simulated_line" in line]
    assert len(setups) == 1, "the unmarked test's line was started: " + "\n".join(result.outlines)
