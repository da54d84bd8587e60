"""What a register means: table, address, data type, word order and scaling of one point.

Field names follow EdgeX device profiles where they fit (``scale``, ``offset``, ``mask``,
``shift``), so integrators who know EdgeX can read a linegate map without a manual. A value read
from the device is ``(raw & mask) >> shift``, then ``raw * scale + offset``; writing inverts it.
"""

from __future__ import annotations

import enum
import math
import struct
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from protocols.errors import ConfigError


class Table(enum.Enum):
    """The four Modbus data tables."""

    COILS = "coils"
    DISCRETE_INPUTS = "discrete_inputs"
    HOLDING_REGISTERS = "holding_registers"
    INPUT_REGISTERS = "input_registers"

    @property
    def is_bits(self) -> bool:
        """True for the single-bit tables."""
        return self in (Table.COILS, Table.DISCRETE_INPUTS)

    @property
    def writable(self) -> bool:
        """True for the tables a master may write."""
        return self in (Table.COILS, Table.HOLDING_REGISTERS)


class DataType(enum.Enum):
    """How the words of one point are interpreted; the value is the number of 16-bit words."""

    BOOL = "bool"
    INT16 = "int16"
    UINT16 = "uint16"
    INT32 = "int32"
    UINT32 = "uint32"
    FLOAT32 = "float32"
    INT64 = "int64"
    UINT64 = "uint64"
    FLOAT64 = "float64"
    STRING = "string"

    @property
    def words(self) -> int:
        """Registers one value occupies (strings give their length in the point)."""
        return _WORDS[self]


_WORDS = {
    DataType.BOOL: 1,
    DataType.INT16: 1,
    DataType.UINT16: 1,
    DataType.INT32: 2,
    DataType.UINT32: 2,
    DataType.FLOAT32: 2,
    DataType.INT64: 4,
    DataType.UINT64: 4,
    DataType.FLOAT64: 4,
    DataType.STRING: 0,
}
# struct codes for the big-endian byte string of all words in "big" word order.
_STRUCT = {
    DataType.INT16: ">h",
    DataType.UINT16: ">H",
    DataType.INT32: ">i",
    DataType.UINT32: ">I",
    DataType.FLOAT32: ">f",
    DataType.INT64: ">q",
    DataType.UINT64: ">Q",
    DataType.FLOAT64: ">d",
}


class WordOrder(enum.Enum):
    """Order of the 16-bit words of a multi-word value (bytes within a word are always big-endian,
    as the Modbus application protocol specifies for registers)."""

    BIG = "big"  # most significant word first ("ABCD"), the common default
    LITTLE = "little"  # least significant word first ("CDAB"), common on PLCs


@dataclass(frozen=True, slots=True)
class Point:
    """One named value in a device's Modbus address space.

    Args:
        name: the map's name for the value (``zone1_top_actual``).
        table: which data table it lives in.
        address: zero-based address of its first register or bit.
        data_type: interpretation of the words; ``BOOL`` for coils and discrete inputs, or a
            single bit of a register when ``bit`` is set.
        word_order: order of the words of multi-word types.
        scale, offset: engineering value = raw * scale + offset.
        mask, shift: applied to integer raw values before scaling (``(raw & mask) >> shift``).
        bit: for ``BOOL`` in a register table, the bit number (0 = least significant).
        length: for ``STRING``, the number of registers (two ASCII characters each).
    """

    name: str
    table: Table
    address: int
    data_type: DataType = DataType.UINT16
    word_order: WordOrder = WordOrder.BIG
    scale: float = 1.0
    offset: float = 0.0
    mask: int | None = None
    shift: int = 0
    bit: int | None = None
    length: int = 0

    def __post_init__(self) -> None:
        if not 0 <= self.address <= 0xFFFF:
            raise ValueError(f"{self.name}: address {self.address} is outside 0..65535")
        if self.table.is_bits and self.data_type is not DataType.BOOL:
            raise ValueError(f"{self.name}: {self.table.value} hold bits; data_type must be bool")
        if self.data_type is DataType.BOOL and not self.table.is_bits and self.bit is None:
            raise ValueError(f"{self.name}: a bool in {self.table.value} needs a bit number")
        if self.bit is not None and not 0 <= self.bit <= 15:
            raise ValueError(f"{self.name}: bit {self.bit} is outside 0..15")
        if self.data_type is DataType.STRING and self.length <= 0:
            raise ValueError(f"{self.name}: a string needs a length in registers")
        if self.scale == 0:
            raise ValueError(f"{self.name}: scale must not be 0")
        if self.address + self.count - 1 > 0xFFFF:
            raise ValueError(f"{self.name}: spans past address 65535")

    @property
    def count(self) -> int:
        """How many registers (or bits) the point occupies."""
        if self.table.is_bits:
            return 1
        return self.length if self.data_type is DataType.STRING else self.data_type.words

    @property
    def scaled(self) -> bool:
        """True when the point converts raw values with scale or offset."""
        return self.scale != 1.0 or self.offset != 0.0


Value = bool | int | float | str


def _ordered(point: Point, words: Sequence[int]) -> Sequence[int]:
    return list(reversed(words)) if point.word_order is WordOrder.LITTLE else words


def decode_point(point: Point, words: Sequence[int]) -> Value:
    """The engineering value of ``point`` from exactly its registers (or its one bit).

    Raises:
        ValueError: ``words`` has the wrong length.
    """
    if len(words) != point.count:
        raise ValueError(f"{point.name}: needs {point.count} words, got {len(words)}")
    if point.table.is_bits:
        return bool(words[0])
    if point.data_type is DataType.BOOL:
        assert point.bit is not None
        return bool((words[0] >> point.bit) & 1)
    if point.data_type is DataType.STRING:
        raw_bytes = b"".join(w.to_bytes(2, "big") for w in words)
        return raw_bytes.rstrip(b"\x00 ").decode("ascii", errors="replace")
    packed = b"".join(w.to_bytes(2, "big") for w in _ordered(point, words))
    (raw,) = struct.unpack(_STRUCT[point.data_type], packed)
    if isinstance(raw, int):
        if point.mask is not None:
            raw &= point.mask
        raw >>= point.shift
    if not point.scaled:
        return raw  # type: ignore[no-any-return]
    return float(raw * point.scale + point.offset)


def encode_point(point: Point, value: Value) -> list[int]:
    """The register words (or one bit as 0/1) that make the device read back ``value``.

    Raises:
        ValueError: the point cannot be written, or the value does not fit its type.
    """
    if not point.table.writable:
        raise ValueError(f"{point.name}: {point.table.value} cannot be written")
    if point.table.is_bits:
        return [1 if value else 0]
    if point.data_type is DataType.BOOL or point.mask is not None:
        raise ValueError(f"{point.name}: a bit field shares its register; write it read-modify-write")
    if point.data_type is DataType.STRING:
        data = str(value).encode("ascii")
        if len(data) > 2 * point.length:
            raise ValueError(f"{point.name}: {value!r} is longer than {2 * point.length} characters")
        data = data.ljust(2 * point.length, b"\x00")
        return [int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2)]
    if isinstance(value, str):
        raise ValueError(f"{point.name}: {value!r} is not a number")
    raw: float | int = (float(value) - point.offset) / point.scale if point.scaled else value
    if point.data_type not in (DataType.FLOAT32, DataType.FLOAT64):
        if isinstance(raw, float):
            if not math.isfinite(raw):
                raise ValueError(f"{point.name}: {value!r} is not a finite number")
            raw = round(raw)
        raw = int(raw) << point.shift
    try:
        packed = struct.pack(_STRUCT[point.data_type], raw)
    except struct.error as exc:
        raise ValueError(f"{point.name}: {value!r} does not fit {point.data_type.value}") from exc
    words = [int.from_bytes(packed[i : i + 2], "big") for i in range(0, len(packed), 2)]
    return list(_ordered(point, words))


_POINT_KEYS = {"table", "address", "type", "word_order", "scale", "offset", "mask", "shift", "bit", "length"}


def load_points(table: Mapping[str, Any], *, path: str | None = None, key: str = "points") -> list[Point]:
    """Points from a parsed map section (``{name: {table=..., address=..., type=...}}``).

    Raises:
        ConfigError: naming ``path`` and the key path (``points.zone1_pv.type``) of the first problem.
    """
    points = []
    for name, spec in table.items():
        where = f"{key}.{name}"
        if not isinstance(spec, Mapping):
            raise ConfigError("must be a table", path=path, key=where)
        unknown = sorted(set(spec) - _POINT_KEYS)
        if unknown:
            raise ConfigError(f"unknown key {unknown[0]!r}", path=path, key=f"{where}.{unknown[0]}")
        for required in ("table", "address"):
            if required not in spec:
                raise ConfigError("is required", path=path, key=f"{where}.{required}")
        try:
            tbl = Table(spec["table"])
        except ValueError:
            choices = ", ".join(t.value for t in Table)
            raise ConfigError(f"must be one of {choices}", path=path, key=f"{where}.table") from None
        default_type = "bool" if tbl.is_bits else "uint16"
        try:
            data_type = DataType(spec.get("type", default_type))
        except ValueError:
            choices = ", ".join(t.value for t in DataType)
            raise ConfigError(f"must be one of {choices}", path=path, key=f"{where}.type") from None
        try:
            word_order = WordOrder(spec.get("word_order", "big"))
        except ValueError:
            raise ConfigError("must be big or little", path=path, key=f"{where}.word_order") from None
        for int_key in ("address", "mask", "shift", "bit", "length"):
            if int_key in spec and (not isinstance(spec[int_key], int) or isinstance(spec[int_key], bool)):
                raise ConfigError("must be an integer", path=path, key=f"{where}.{int_key}")
        for num_key in ("scale", "offset"):
            if num_key in spec and not isinstance(spec[num_key], int | float):
                raise ConfigError("must be a number", path=path, key=f"{where}.{num_key}")
        try:
            points.append(
                Point(
                    name=name,
                    table=tbl,
                    address=spec["address"],
                    data_type=data_type,
                    word_order=word_order,
                    scale=float(spec.get("scale", 1.0)),
                    offset=float(spec.get("offset", 0.0)),
                    mask=spec.get("mask"),
                    shift=spec.get("shift", 0),
                    bit=spec.get("bit"),
                    length=spec.get("length", 0),
                )
            )
        except ValueError as exc:
            raise ConfigError(str(exc).removeprefix(f"{name}: "), path=path, key=where) from None
    return points
