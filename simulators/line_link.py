"""A report-only serial link: what a scanner or a test station sends, nothing it reads.

Each line goes out, CR LF appended, on a pseudo-terminal (``tty_path``: what a host opens as its
serial port) and to every client of a raw TCP port (``tcp_port``: a serial device server).
Bytes from the host are read and ignored, as such devices do. Like a real UART, a pty whose
buffer is full drops what nobody reads.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import os
import tty


class LineLink:
    """The pty and the TCP port of a device that only reports.

    Args:
        host: the address of the raw TCP port (None: no TCP port).
        port: the TCP port (0 = a free one).
        pty: open a pseudo-terminal.
    """

    def __init__(self, *, host: str | None = "127.0.0.1", port: int = 0, pty: bool = True) -> None:
        self.tty_path: str | None = None
        self.tcp_port: int | None = None
        #: The lines sent (without CR LF), in order: the last 1,000.
        self.sent: collections.deque[str] = collections.deque(maxlen=1000)
        self._host, self._port, self._want_pty = host, port, pty
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pty_fds: tuple[int, int] | None = None

    @property
    def clients(self) -> int:
        """TCP clients connected now."""
        return len(self._writers)

    def send(self, line: str) -> None:
        """Send one line (CR LF appended) on the pty and to every TCP client."""
        self.sent.append(line)
        self.send_bytes(line.encode("ascii", "replace") + b"\r\n")

    def send_bytes(self, data: bytes) -> None:
        """Send raw bytes on every link (fault injection sends line noise this way)."""
        if self._pty_fds is not None:
            with contextlib.suppress(BlockingIOError, OSError):
                os.write(self._pty_fds[0], data)
        for writer in list(self._writers):
            writer.write(data)

    def drop_connection(self) -> None:
        """Close every TCP connection (clients reconnect)."""
        for writer in list(self._writers):
            writer.close()
        self._writers.clear()

    async def open(self) -> None:
        """Open the pty and the TCP port."""
        if self._want_pty:
            master, slave = os.openpty()
            tty.setraw(slave)  # no echo, no CR/LF translation: the bytes are the protocol
            os.set_blocking(master, False)
            self._pty_fds = (master, slave)
            self.tty_path = os.ttyname(slave)
        if self._host is not None:
            self._server = await asyncio.start_server(self._serve, self._host, self._port)
            self.tcp_port = int(self._server.sockets[0].getsockname()[1])

    async def close(self) -> None:
        """Close every connection, the TCP port and the pty."""
        self.drop_connection()
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None
        if self._pty_fds is not None:
            for fd in self._pty_fds:
                os.close(fd)
            self._pty_fds = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while await reader.read(1024):  # the device only reports; what the host sends is ignored
                pass
        except ConnectionError:
            pass
        finally:
            self._writers.discard(writer)
            writer.close()


class ReportsLines:
    """The public face of a machine's :class:`LineLink` (``self.link``), for the scanner and
    the functional tester: where a host connects, what was sent, and the fault injections."""

    link: LineLink

    @property
    def tty_path(self) -> str | None:
        """The pty a host opens as its serial port (None before start, or without a pty)."""
        return self.link.tty_path

    @property
    def tcp_port(self) -> int | None:
        """The raw TCP port (None before start, or without one)."""
        return self.link.tcp_port

    @property
    def sent(self) -> collections.deque[str]:
        """The lines sent (without CR LF), in order: the last 1,000."""
        return self.link.sent

    @property
    def clients(self) -> int:
        """TCP clients connected now."""
        return self.link.clients

    def send(self, line: str) -> None:
        """Send one line (CR LF appended) on the pty and to every TCP client."""
        self.link.send(line)

    def send_bytes(self, data: bytes) -> None:
        """Send raw bytes on every link."""
        self.link.send_bytes(data)

    def drop_connection(self) -> None:
        """Close every TCP connection (clients reconnect)."""
        self.link.drop_connection()


__all__ = ["LineLink", "ReportsLines"]
