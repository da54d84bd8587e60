"""Modbus register maps, sans-IO: data types, scaling, word order, and the read-block planner.

Only ``adapters/modbus`` talks to a device (through pymodbus); this package only turns register
words into values and back, and decides which blocks to read.
"""

from protocols.modbus.plan import MAX_READ_BITS, MAX_READ_REGISTERS, ReadBlock, ReadPlan, split_block
from protocols.modbus.registermap import (
    DataType,
    Point,
    Table,
    WordOrder,
    decode_point,
    encode_point,
    load_points,
)

__all__ = [
    "MAX_READ_BITS",
    "MAX_READ_REGISTERS",
    "DataType",
    "Point",
    "ReadBlock",
    "ReadPlan",
    "Table",
    "WordOrder",
    "decode_point",
    "encode_point",
    "load_points",
    "split_block",
]
