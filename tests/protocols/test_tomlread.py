"""The one TOML reader: file errors name the file (and line and column), tables name key paths,
and Problems collects a whole file's errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from protocols.errors import ConfigError, ConfigErrors
from protocols.tomlread import Problems, Table, read_toml


def test_a_syntax_error_names_the_file_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "line.toml"
    path.write_text('[line]\nname = "L"\nport = = 2\n', encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        read_toml(path)
    assert caught.value.path == str(path)
    assert caught.value.problem == "is not valid TOML at line 3, column 8: invalid value"


def test_unreadable_and_non_utf8_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml: cannot read: No such file"):
        read_toml(tmp_path / "missing.toml")
    latin = tmp_path / "latin.toml"
    latin.write_bytes(b'name = "Gr\xfcn"\n')
    with pytest.raises(ConfigError, match=r"latin\.toml: is not UTF-8 \(invalid start byte at byte 10\)"):
        read_toml(latin)


def test_a_table_names_key_paths_and_refuses_unread_keys() -> None:
    root = Table({"machines": [{"port": "502", "extra": 1}]}, "line.toml")
    machine = root.sections("machines")[0]
    with pytest.raises(ConfigError) as caught:
        machine.integer("port", 1, 65535)
    assert str(caught.value) == "line.toml: machines[0].port: must be an integer, not a string"
    with pytest.raises(ConfigError, match=r"machines\[0\]\.extra: unknown key"):
        machine.done()
    with pytest.raises(ConfigError, match="must be one of a, b, not 'c'"):
        Table({"x": "c"}, None).choice("x", ("a", "b"))


def test_problems_collects_every_error_and_raises_them_together() -> None:
    problems = Problems()
    table = Table({"a": 1, "b": "x"}, "f.toml")
    assert problems.attempt(lambda: table.get("a", str)) is None
    with problems.collect():
        table.get("b", int)
    assert problems.attempt(lambda: table.get("a", int)) == 1
    with pytest.raises(ConfigErrors) as caught:
        problems.raise_any()
    assert [e.key for e in caught.value.errors] == ["a", "b"]
    assert str(caught.value).splitlines() == [
        "f.toml: a: must be a string, not an integer",
        "f.toml: b: must be an integer, not a string",
    ]
    single = Problems()
    single.add(ConfigError("wrong", path="f.toml", key="k"))
    with pytest.raises(ConfigError) as one:
        single.raise_any()
    assert not isinstance(one.value, ConfigErrors)
    Problems().raise_any()  # nothing collected: nothing raised
