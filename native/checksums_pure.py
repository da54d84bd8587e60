"""Pure-Python checksums: the reference twin of ``native._checksums``."""

from __future__ import annotations

Buffer = bytes | bytearray | memoryview


def _make_crc16_table() -> tuple[int, ...]:
    table = []
    for i in range(256):
        crc = i
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


_CRC16_TABLE = _make_crc16_table()


def _as_bytes(data: Buffer) -> bytes | bytearray:
    if isinstance(data, memoryview):
        if not data.c_contiguous:
            raise ValueError("ndarray is not C-contiguous")
        return data.cast("B").tobytes()
    if not isinstance(data, bytes | bytearray):
        raise TypeError(f"a bytes-like object is required, not {type(data).__name__!r}")
    return data


def crc16_modbus(data: Buffer, crc: int = 0xFFFF) -> int:
    """CRC-16/MODBUS (reflected 0x8005, init 0xFFFF). Pass ``crc`` to continue a running value."""
    table = _CRC16_TABLE
    crc &= 0xFFFF
    for byte in _as_bytes(data):
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


def lrc(data: Buffer) -> int:
    """Modbus ASCII LRC: the two's complement of the 8-bit sum of the bytes."""
    return -sum(_as_bytes(data)) & 0xFF


def xor8(data: Buffer) -> int:
    """XOR of all bytes."""
    x = 0
    for byte in _as_bytes(data):
        x ^= byte
    return x


def sum8(data: Buffer) -> int:
    """Sum of all bytes modulo 256."""
    return sum(_as_bytes(data)) & 0xFF
