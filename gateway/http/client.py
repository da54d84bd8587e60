"""The command line's client of the HTTP API, and what its commands share: options, tables, progress.

``linegate status``, ``linegate events tail`` and ``linegate recipe ...`` talk to a running
gateway at ``--url`` (default ``http://127.0.0.1:8080``, or ``LINEGATE_URL``). Write commands send
the bearer token from ``LINEGATE_HTTP_TOKEN`` or the first line of ``--token-file``.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, Self, TextIO

import aiohttp
import orjson

from gateway.logconfig import configure_logging
from protocols.errors import LinegateError, TransportError

DEFAULT_URL = "http://127.0.0.1:8080"
TOKEN_ENV = "LINEGATE_HTTP_TOKEN"
URL_ENV = "LINEGATE_URL"


class GatewayError(LinegateError):
    """The gateway answered with an error; ``status`` is the HTTP status, the text its message."""

    def __init__(self, status: int, message: str, body: Any = None) -> None:
        super().__init__(message)
        self.status = status
        self.body = body


def add_client_options(parser: argparse.ArgumentParser, *, token: bool = False) -> None:
    """Add ``--url`` (and ``--token-file`` for write commands)."""
    parser.add_argument(
        "--url",
        default=os.environ.get(URL_ENV, DEFAULT_URL),
        help=f"the gateway's HTTP address (default {DEFAULT_URL}, or ${URL_ENV})",
    )
    if token:
        parser.add_argument(
            "--token-file",
            metavar="PATH",
            help=f"file whose first line is the API token (default ${TOKEN_ENV})",
        )


def client_logging() -> None:
    """Client commands print results on stdout; log only warnings, and to stderr."""
    configure_logging(level=logging.WARNING, stream=sys.stderr)


def resolve_token(token_file: str | None) -> str:
    """The API token from ``token_file`` or ``LINEGATE_HTTP_TOKEN``.

    Raises:
        LinegateError: neither gives a token, or the file cannot be read.
    """
    if token_file:
        try:
            lines = Path(token_file).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise LinegateError(f"cannot read the token file {token_file}: {exc.strerror or exc}") from None
        if not lines or not lines[0].strip():
            raise LinegateError(f"the token file {token_file} is empty")
        return lines[0].strip()
    token = os.environ.get(TOKEN_ENV, "").strip()
    if not token:
        raise LinegateError(f"this command needs the API token: set {TOKEN_ENV} or pass --token-file")
    return token


class ApiClient:
    """An async client of one gateway's HTTP API.

    Args:
        url: the gateway's base URL.
        token: the bearer token for write requests.
        timeout: seconds for a whole request (streams: between reads).
    """

    def __init__(self, url: str, token: str | None = None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Self:
        self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(sock_read=self.timeout))
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            raise RuntimeError("use ApiClient in 'async with'")
        return self._session

    def _headers(self, accept: str = "application/json") -> dict[str, str]:
        headers = {"Accept": accept}
        if self.token is not None:
            headers["Authorization"] = f"Bearer {self.token}"
        return headers

    async def get(self, path: str) -> Any:
        """GET a JSON document.

        Raises:
            TransportError: the gateway cannot be reached.
            GatewayError: it answered with an error.
        """
        try:
            async with self.session.get(self.url + path, headers=self._headers()) as response:
                return await _json(response)
        except aiohttp.ClientError as exc:
            raise TransportError(f"cannot reach the gateway at {self.url}: {exc}") from exc

    async def post(self, path: str, body: dict[str, Any]) -> Any:
        """POST a JSON object and return the JSON answer (see ``get`` for errors)."""
        try:
            async with self.session.post(
                self.url + path, data=orjson.dumps(body), headers=self._post_headers()
            ) as r:
                return await _json(r)
        except aiohttp.ClientError as exc:
            raise TransportError(f"cannot reach the gateway at {self.url}: {exc}") from exc

    def _post_headers(self, accept: str = "application/json") -> dict[str, str]:
        return {**self._headers(accept), "Content-Type": "application/json"}

    async def post_lines(self, path: str, body: dict[str, Any]) -> AsyncIterator[dict[str, Any]]:
        """POST and yield each line of an NDJSON answer (see ``get`` for errors)."""
        try:
            async with self.session.post(
                self.url + path, data=orjson.dumps(body), headers=self._post_headers("application/x-ndjson")
            ) as response:
                if response.status >= 400:
                    await _json(response)
                async for row in response.content:
                    if row.strip():
                        yield orjson.loads(row)
        except aiohttp.ClientError as exc:
            raise TransportError(f"lost the gateway at {self.url}: {exc}") from exc

    async def events(self, sources: Sequence[str] = ()) -> AsyncIterator[bytes]:
        """Yield the ``data`` of each server-sent event of ``/api/events`` (envelope JSON)."""
        query = f"?source={','.join(sources)}" if sources else ""
        try:
            async with self.session.get(
                f"{self.url}/api/events{query}",
                headers=self._headers("text/event-stream"),
                timeout=aiohttp.ClientTimeout(sock_read=None),  # keepalives arrive every 15 s
            ) as response:
                if response.status >= 400:
                    await _json(response)
                data: list[bytes] = []
                async for raw in response.content:
                    row = raw.rstrip(b"\r\n")
                    if not row:
                        if data:
                            yield b"\n".join(data)
                        data = []
                    elif row.startswith(b"data:"):
                        data.append(row[5:].removeprefix(b" "))
        except aiohttp.ClientError as exc:
            raise TransportError(f"lost the event stream at {self.url}: {exc}") from exc


async def _json(response: aiohttp.ClientResponse) -> Any:
    raw = await response.read()
    try:
        body = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        body = None
    if response.status >= 400:
        message = body.get("error", {}).get("message") if isinstance(body, dict) else None
        raise GatewayError(response.status, message or f"HTTP {response.status} {response.reason}", body)
    if body is None:
        raise GatewayError(response.status, f"the gateway answered {response.status} without JSON")
    return body


def format_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    """Columns padded to their widest cell; ``None`` shows as ``-``."""
    cells = [[("-" if c is None else str(c)) for c in row] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) if cells else len(h) for i, h in enumerate(headers)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip()]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in cells]
    return "\n".join(lines)


class Progress:
    """A progress bar on a terminal (redrawn in place), one line per step otherwise.

    Args:
        total: the number of steps.
        label: what is progressing.
        out: where to draw (stderr by default, so stdout stays the result).
    """

    def __init__(self, total: int, label: str, out: TextIO | None = None, width: int = 24) -> None:
        self.total = max(total, 1)
        self.label = label
        self.out = out or sys.stderr
        self.width = width
        self.done = 0
        self.tty = self.out.isatty()
        self._draw("")

    def step(self, note: str) -> None:
        """One more step finished; ``note`` says which and how."""
        self.done = min(self.done + 1, self.total)
        self._draw(note)

    def _draw(self, note: str) -> None:
        filled = self.width * self.done // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        text = f"{self.label} [{bar}] {self.done}/{self.total}" + (f"  {note}" if note else "")
        if self.tty:
            self.out.write("\r\x1b[2K" + text)
            if self.done == self.total:
                self.out.write("\n")
        else:
            self.out.write(text + "\n")
        self.out.flush()


__all__ = [
    "DEFAULT_URL",
    "TOKEN_ENV",
    "ApiClient",
    "GatewayError",
    "Progress",
    "add_client_options",
    "client_logging",
    "format_table",
    "resolve_token",
]
