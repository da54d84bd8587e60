# cython: language_level=3
"""Compiled checksums for serial framing and Modbus RTU/ASCII.

The pure-Python twin is ``native.checksums_pure``; both must give identical results.
"""

from libc.stdint cimport uint8_t, uint16_t

# Slicing-by-8: T[k][b] is the CRC contribution of byte b followed by k zero bytes, so eight
# input bytes cost eight independent table loads instead of a chain of eight dependent steps.
cdef uint16_t T[8][256]


cdef void _build_table():
    cdef uint16_t crc
    cdef int i, bit, k
    for i in range(256):
        crc = <uint16_t>i
        for bit in range(8):
            if crc & 1:
                crc = (crc >> 1) ^ 0xA001
            else:
                crc >>= 1
        T[0][i] = crc
    for k in range(1, 8):
        for i in range(256):
            T[k][i] = (T[k - 1][i] >> 8) ^ T[0][T[k - 1][i] & 0xFF]


_build_table()


def crc16_modbus(const uint8_t[::1] data not None, unsigned int crc=0xFFFF):
    """CRC-16/MODBUS (reflected 0x8005, init 0xFFFF). Pass ``crc`` to continue a running value."""
    cdef Py_ssize_t i = 0, n = data.shape[0]
    cdef uint16_t c = <uint16_t>crc
    with nogil:
        while i + 8 <= n:
            c = (T[7][(data[i] ^ c) & 0xFF] ^ T[6][(data[i + 1] ^ (c >> 8)) & 0xFF]
                 ^ T[5][data[i + 2]] ^ T[4][data[i + 3]] ^ T[3][data[i + 4]]
                 ^ T[2][data[i + 5]] ^ T[1][data[i + 6]] ^ T[0][data[i + 7]])
            i += 8
        while i < n:
            c = (c >> 8) ^ T[0][(c ^ data[i]) & 0xFF]
            i += 1
    return c


def lrc(const uint8_t[::1] data not None):
    """Modbus ASCII LRC: the two's complement of the 8-bit sum of the bytes."""
    cdef Py_ssize_t i, n = data.shape[0]
    cdef uint8_t s = 0
    with nogil:
        for i in range(n):
            s = <uint8_t>(s + data[i])
    return <uint8_t>(-s)


def xor8(const uint8_t[::1] data not None):
    """XOR of all bytes."""
    cdef Py_ssize_t i, n = data.shape[0]
    cdef uint8_t x = 0
    with nogil:
        for i in range(n):
            x ^= data[i]
    return x


def sum8(const uint8_t[::1] data not None):
    """Sum of all bytes modulo 256."""
    cdef Py_ssize_t i, n = data.shape[0]
    cdef uint8_t s = 0
    with nogil:
        for i in range(n):
            s = <uint8_t>(s + data[i])
    return s
