"""One TOML reader for every file linegate reads: line configs, maps, simulator lines, scenarios.

:func:`read_toml` reads a file; a file that cannot be read, is not UTF-8 or is not TOML is a
:class:`~protocols.errors.ConfigError` naming the file (and the line and column of a syntax
error). :class:`Table` then reads one TOML table with key paths in every error
(``machines[2].connection.port``), and :class:`Problems` collects the errors of a whole file, so
a check can report every problem instead of the first.

This is the one module under ``protocols/`` that touches the file system: configuration is read
once, at start, by the layer above, and every layer (simulators too) shares this reader.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any, ParamSpec, TypeVar

from protocols.errors import ConfigError, ConfigErrors

_T = TypeVar("_T")
_P = ParamSpec("_P")
MISSING: Any = object()
_POSITION = re.compile(r"^(?P<problem>.*?) \(at (?P<where>line \d+, column \d+|end of document)\)$")


def parse_toml(text: str, *, path: str | None = None) -> dict[str, Any]:
    """Parsed TOML.

    Raises:
        ConfigError: ``text`` is not TOML; the problem names the line and column.
    """
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        found = _POSITION.match(str(exc))
        if found is None:
            problem = f"is not valid TOML: {exc}"
        else:
            where = "the end of the file" if found["where"] == "end of document" else found["where"]
            problem = f"is not valid TOML at {where}: {found['problem'][:1].lower()}{found['problem'][1:]}"
        raise ConfigError(problem, path=path) from None


def read_toml(path: str | Path) -> dict[str, Any]:
    """Read and parse a TOML file.

    Raises:
        ConfigError: the file cannot be read, is not UTF-8 or is not TOML (naming the file,
            and the line and column of a syntax error).
    """
    name = str(path)
    try:
        raw = Path(path).read_bytes()
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", path=name) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(f"is not UTF-8 ({exc.reason} at byte {exc.start})", path=name) from None
    return parse_toml(text, path=name)


def join(where: str, key: str) -> str:
    """The key path of ``key`` inside the table at ``where`` (``""``: the document)."""
    return f"{where}.{key}" if where else key


def kind_of(value: object) -> str:
    """What a TOML value is, for messages (``a table``, ``an integer``)."""
    return _KIND_NAMES.get(type(value), type(value).__name__)


_KIND_NAMES = {
    dict: "a table",
    list: "an array",
    str: "a string",
    bool: "a boolean",
    int: "an integer",
    float: "a number",
}


def _kinds_name(kinds: tuple[type, ...]) -> str:
    return " or ".join(_KIND_NAMES.get(k, k.__name__) for k in kinds)


class Problems:
    """The errors found in one or more files, collected so a check reports every one."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []

    def add(self, error: ConfigError) -> None:
        """Record ``error`` (each error of a :class:`ConfigErrors`); one already recorded (two
        checks that read the same secret) is not recorded twice."""
        for one in error.errors if isinstance(error, ConfigErrors) else (error,):
            if all(str(one) != str(seen) for seen in self.errors):
                self.errors.append(one)

    @contextmanager
    def collect(self) -> Iterator[None]:
        """Record a ConfigError raised in the block instead of letting it through."""
        try:
            yield
        except ConfigError as exc:
            self.add(exc)

    def attempt(self, read: Callable[_P, _T], *args: _P.args, **kwargs: _P.kwargs) -> _T | None:
        """``read(*args, **kwargs)``, or None with its ConfigError recorded."""
        try:
            return read(*args, **kwargs)
        except ConfigError as exc:
            self.add(exc)
            return None

    def raise_any(self) -> None:
        """Raise what was collected: the one error, or a :class:`ConfigErrors` of several.

        Raises:
            ConfigError: at least one error was recorded.
        """
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise ConfigErrors(self.errors)

    def __bool__(self) -> bool:
        return bool(self.errors)


class KeyReader:
    """Typed access to the tables of one parsed TOML file, by key path: each accessor takes the
    table, the key and where the table is (``machines[2]``), and names the key path in errors.

    The functional twin of :class:`Table`, for readers that walk plain dicts (the line config).
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def fail(self, key: str, problem: str) -> ConfigError:
        return ConfigError(problem, path=self.path, key=key)

    def table(
        self, data: Mapping[str, Any], key: str, where: str, *, required: bool = False
    ) -> dict[str, Any]:
        value = data.get(key)
        if value is None:
            if required:
                raise self.fail(join(where, key), "is required")
            return {}
        if not isinstance(value, dict):
            raise self.fail(join(where, key), f"must be a table, not {kind_of(value)}")
        return value

    def text(self, data: Mapping[str, Any], key: str, where: str, default: str | None = None) -> str:
        value = data.get(key, default)
        if value is None:
            raise self.fail(join(where, key), "is required")
        if not isinstance(value, str) or not value:
            raise self.fail(join(where, key), f"must be a non-empty string, not {kind_of(value)}")
        return value

    def opt_text(self, data: Mapping[str, Any], key: str, where: str) -> str | None:
        return self.text(data, key, where) if key in data else None

    def opt_path(self, data: Mapping[str, Any], key: str, where: str) -> str | None:
        """A file path; a relative one is taken relative to the config file, as map paths are."""
        value = self.opt_text(data, key, where)
        if value is None or Path(value).is_absolute():
            return value
        return str(Path(self.path).parent / value)

    def integer(self, data: Mapping[str, Any], key: str, where: str, default: int, lo: int, hi: int) -> int:
        value = data.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool):
            raise self.fail(join(where, key), f"must be an integer, not {kind_of(value)}")
        if not lo <= value <= hi:
            raise self.fail(join(where, key), f"must be between {lo} and {hi}, not {value}")
        return value

    def flag(self, data: Mapping[str, Any], key: str, where: str, default: bool) -> bool:
        value = data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(join(where, key), f"must be true or false, not {kind_of(value)}")
        return value

    def choice(
        self, data: Mapping[str, Any], key: str, where: str, choices: tuple[str, ...], default: str | None
    ) -> str:
        value = self.text(data, key, where, default)
        if value not in choices:
            raise self.fail(join(where, key), f"must be one of {', '.join(choices)}, not {value!r}")
        return value

    def only(self, data: Mapping[str, Any], where: str, allowed: set[str]) -> None:
        for key in data:
            if key not in allowed:
                raise self.fail(
                    join(where, key), f"unknown key (expected one of {', '.join(sorted(allowed))})"
                )


class Table:
    """One TOML table being read; every accessor names the file and key path in its errors.

    :meth:`done` refuses keys nobody read, so a misspelt key never silently drops a setting.
    """

    def __init__(self, data: Mapping[str, Any], path: str | None, key: str = "") -> None:
        self.data, self.path, self.key = data, path, key
        self._used: set[str] = set()

    def where(self, name: str | None = None) -> str:
        """The key path of ``name`` in this table (of the table itself with None)."""
        return self.key if name is None else join(self.key, name)

    def error(self, problem: str, name: str | None = None) -> ConfigError:
        """A ConfigError about ``name`` (the table itself with None)."""
        return ConfigError(problem, path=self.path, key=self.where(name))

    def has(self, name: str) -> bool:
        """Whether the table sets ``name``."""
        return name in self.data

    def get(self, name: str, kind: type[_T] | tuple[type, ...], default: Any = MISSING) -> Any:
        """The value of ``name``, of ``kind`` (an integer is accepted as a float; a boolean is no
        number); ``default`` when absent, and "is required" without one."""
        self._used.add(name)
        if name not in self.data:
            if default is MISSING:
                raise self.error("is required", name)
            return default
        value = self.data[name]
        kinds = kind if isinstance(kind, tuple) else (kind,)
        if float in kinds and isinstance(value, int) and not isinstance(value, bool):
            return float(value)
        if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
            raise self.error(f"must be {_kinds_name(kinds)}, not {kind_of(value)}", name)
        return value

    def text(self, name: str, default: Any = MISSING) -> Any:
        """A non-empty string."""
        value = self.get(name, str, default)
        if value == "":
            raise self.error("must be a non-empty string", name)
        return value

    def choice(self, name: str, choices: tuple[str, ...], default: Any = MISSING) -> Any:
        """One of ``choices``."""
        value = self.get(name, str, default)
        if value is not default and value not in choices:
            raise self.error(f"must be one of {', '.join(choices)}, not {value!r}", name)
        return value

    def integer(self, name: str, lo: int, hi: int, default: Any = MISSING) -> Any:
        """An integer from ``lo`` to ``hi``."""
        value = self.get(name, int, default)
        if value is not default and not lo <= value <= hi:
            raise self.error(f"must be between {lo} and {hi}, not {value}", name)
        return value

    def positive(self, name: str, default: Any = MISSING) -> float:
        """A number greater than 0."""
        value: float = self.get(name, float, default)
        if not value > 0:
            raise self.error("must be greater than 0", name)
        return value

    def section(self, name: str, *, required: bool = False) -> Table | None:
        """The sub-table ``name``; None when absent (an error when ``required``)."""
        self._used.add(name)
        if name not in self.data:
            if required:
                raise self.error("is required", name)
            return None
        value = self.data[name]
        if not isinstance(value, Mapping):
            raise self.error(f"must be a table, not {kind_of(value)}", name)
        return Table(value, self.path, self.where(name))

    def require(self, name: str) -> Table:
        """A sub-table that must be present."""
        table = self.section(name, required=True)
        assert table is not None
        return table

    def optional(self, name: str) -> Table:
        """A sub-table, empty when absent."""
        return self.section(name) or Table({}, self.path, self.where(name))

    def strings(self, name: str) -> dict[str, str]:
        """A table of strings (``{}`` when absent), checked completely."""
        table = self.section(name)
        if table is None:
            return {}
        values = {key: table.get(key, str) for key in table.data}
        table.done()
        return values

    def sections(self, name: str) -> list[Table]:
        """An array of tables (``[[name]]``)."""
        self._used.add(name)
        value = self.data.get(name, [])
        if not isinstance(value, list):
            raise self.error(f"must be an array of tables ([[{self.where(name)}]])", name)
        for index, item in enumerate(value):
            if not isinstance(item, Mapping):
                raise ConfigError("must be a table", path=self.path, key=f"{self.where(name)}[{index}]")
        return [Table(v, self.path, f"{self.where(name)}[{i}]") for i, v in enumerate(value)]

    def only(self, allowed: set[str] | frozenset[str]) -> None:
        """Refuse any key not in ``allowed``, naming the ones that are."""
        for name in self.data:
            if name not in allowed:
                raise self.error(f"unknown key (expected one of {', '.join(sorted(allowed))})", name)

    def done(self) -> None:
        """Refuse keys nobody read: a misspelt key must not be silently ignored."""
        unknown = sorted(set(self.data) - self._used)
        if unknown:
            raise self.error("unknown key", unknown[0])


__all__ = ["MISSING", "KeyReader", "Problems", "Table", "join", "kind_of", "parse_toml", "read_toml"]
