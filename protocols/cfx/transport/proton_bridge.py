"""The one thread bridge between the qpid-proton reactor and asyncio.

python-qpid-proton drives AMQP 1.0 from a reactor loop (``Container.run``) that blocks its
thread, so every proton object lives on one dedicated thread. asyncio code never touches those
objects: it hands the reactor a callable (:meth:`ProtonBridge.call_in_reactor`), and the reactor
hands results back with ``loop.call_soon_threadsafe`` (:meth:`ProtonBridge.to_loop`). Those two
methods are the only places where threads meet in linegate; every crossing is commented.

The waker is a pipe plus a thread-safe queue, the same mechanism as proton's own
``EventInjector``, but it runs plain callables instead of dispatching named events, so the
handlers need no special methods.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

import structlog
from proton import Event
from proton.handlers import MessagingHandler
from proton.reactor import Container

from protocols.errors import TransportError

__all__ = ["BridgeClosed", "ProtonBridge"]

T = TypeVar("T")
log = structlog.get_logger("linegate.cfx.proton")

# Seconds between closing everything and stopping the reactor (close frames are written within
# a reactor turn or two; we do not wait for the peer's answering close).
CLOSE_GRACE = 0.05


class BridgeClosed(TransportError):
    """The proton reactor thread is not running (never started, stopped, or crashed)."""


class _Waker:
    """A proton selectable that runs queued callables on the reactor thread."""

    def __init__(self) -> None:
        self.calls: queue.SimpleQueue[Callable[[], None] | None] = queue.SimpleQueue()
        self._read_fd, self._write_fd = os.pipe()
        self._fds_open = True
        self._fd_lock = threading.Lock()  # wake() (asyncio thread) vs close() (reactor thread)
        self._closed = False
        # proton's global IOHandler also sees this selectable and looks for a transport.
        self._transport = None

    def fileno(self) -> int:
        return self._read_fd

    def wake(self) -> None:
        with self._fd_lock:
            if not self._fds_open:
                return  # the reactor has ended; nothing reads the pipe any more
            with contextlib.suppress(OSError):
                os.write(self._write_fd, b"!")

    def on_selectable_init(self, event: Event) -> None:
        selectable: Any = event.context
        selectable.reading = True
        selectable.update()

    def on_selectable_readable(self, event: Event) -> None:
        os.read(self._read_fd, 4096)
        while True:
            try:
                call = self.calls.get_nowait()
            except queue.Empty:
                break
            if call is None:  # the stop marker: leave the reactor's set of interest
                self._closed = True
                continue
            try:
                call()
            except Exception:  # a failing call must not kill the reactor thread
                log.exception("proton.call.failed")
        if self._closed:
            selectable: Any = event.context
            selectable.terminate()
            selectable.update()

    def close(self) -> None:
        # proton calls close() itself when the selectable is finished, and the bridge calls it
        # again when its thread ends: closing twice could close a descriptor that another thread
        # has been given in between, so only the first call closes.
        with self._fd_lock:
            fds, self._fds_open = (self._read_fd, self._write_fd) if self._fds_open else (), False
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)


class ProtonBridge:
    """Runs one proton ``Container`` on its own thread and bridges it to an asyncio loop.

    Args:
        handler: the container's handler; its methods run on the reactor thread.
        name: the thread's name, for logs and debuggers.

    The bridge is started with :meth:`start` from a coroutine (it remembers that loop) and
    stopped with :meth:`stop`, which runs ``on_stop`` callables on the reactor thread first so
    that handlers can close their connections and listeners cleanly.
    """

    def __init__(self, handler: MessagingHandler, *, name: str) -> None:
        self.container = Container(handler)
        # Every Container builds a default client and a default server SSL domain (two OpenSSL
        # contexts, about 1.4 MB of RSS), used only for amqps:// without an explicit domain. Ours
        # always pass one (security.client_ssl_domain) and the listener terminates TLS in asyncio,
        # so drop them: a gateway runs two containers per CFX machine (the soak measured it).
        # Without them, amqps:// with no domain fails with SSLUnavailable instead.
        self.container.ssl = None  # type: ignore[assignment]  # proton sets None itself without SSL
        self._handler = handler
        self._name = name
        self._waker = _Waker()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._finished: asyncio.Future[None] | None = None
        self._running = False

    @property
    def running(self) -> bool:
        """True between a successful :meth:`start` and the end of the reactor thread."""
        return self._running

    async def start(self) -> None:
        """Start the reactor thread and wait until the reactor has initialized.

        Raises:
            BridgeClosed: the reactor thread ended during start-up.
        """
        self._loop = asyncio.get_running_loop()
        self._finished = self._loop.create_future()
        waker: Any = self._waker  # proton's stubs only name its own selectable handlers
        self.container.selectable(handler=waker)
        self._running = True
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()
        # A no-op round trip: when it returns, the reactor is processing our calls.
        await self.run_in_reactor(lambda: None)

    def _run(self) -> None:
        # Reactor thread. Its only way back to asyncio is to_loop (call_soon_threadsafe).
        try:
            self.container.run()
        except Exception:
            log.exception("proton.reactor.crashed", thread=self._name)
        finally:
            self._running = False
            self._waker.close()
            finished = self._finished
            if finished is not None:
                # Crossing reactor thread -> asyncio: resolve the stop future on the loop's thread.
                self.to_loop(_set_result_if_pending, finished, None)

    def call_in_reactor(self, call: Callable[[], None]) -> None:
        """Schedule ``call`` on the reactor thread and return at once (safe from any thread).

        Raises:
            BridgeClosed: the reactor thread is not running.
        """
        if not self._running:
            raise BridgeClosed(f"proton reactor {self._name!r} is not running")
        # Crossing asyncio -> reactor thread: a thread-safe queue plus one byte on the wake pipe.
        self._waker.calls.put(call)
        self._waker.wake()

    async def run_in_reactor(self, call: Callable[[], T]) -> T:
        """Run ``call`` on the reactor thread and return its result (or raise its exception).

        Raises:
            BridgeClosed: the reactor thread is not running.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()

        def invoke() -> None:
            try:
                result = call()
            except BaseException as exc:
                # Crossing reactor thread -> asyncio: hand the exception to the waiting coroutine.
                self.to_loop(_set_exception_if_pending, future, exc)
            else:
                # Crossing reactor thread -> asyncio: hand the result to the waiting coroutine.
                self.to_loop(_set_result_if_pending, future, result)

        self.call_in_reactor(invoke)
        return await future

    def to_loop(self, callback: Callable[..., Any], *args: Any) -> None:
        """Run ``callback(*args)`` on the asyncio loop; called from the reactor thread.

        Silently drops the call when the loop is already closed (interpreter shutdown).
        """
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed between the check and the call
            # Crossing reactor thread -> asyncio: the only way proton results reach coroutines.
            loop.call_soon_threadsafe(callback, *args)

    async def stop(self, on_stop: Callable[[], None] | None = None, *, timeout: float = 5.0) -> None:
        """Run ``on_stop`` on the reactor thread, stop the reactor and join its thread.

        Args:
            on_stop: closes the handler's connections and acceptors (reactor thread).
            timeout: how long to wait for the reactor to finish before giving up on it.
        """
        if self._finished is None or self._thread is None:
            return
        if self._running:

            def shutdown() -> None:
                if on_stop is not None:
                    on_stop()
                # Give the close frames a few reactor turns to reach the wire, then stop; a peer
                # that never answers our close must not hold the thread.
                stopper: Any = _Stopper(self.container)
                self.container.schedule(CLOSE_GRACE, stopper)

            with contextlib.suppress(BridgeClosed):
                self.call_in_reactor(shutdown)
                # The None marker removes the waker, so the reactor can end once idle.
                self._waker.calls.put(None)
                self._waker.wake()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(self._finished), timeout)


class _Stopper:
    """Timer handler that stops the container."""

    def __init__(self, container: Container) -> None:
        self._container = container

    def on_timer_task(self, event: Event) -> None:
        self._container.stop()


def _set_result_if_pending(future: asyncio.Future[T], result: T) -> None:
    if not future.done():
        future.set_result(result)


def _set_exception_if_pending(future: asyncio.Future[Any], exc: BaseException) -> None:
    if not future.done():
        future.set_exception(exc)
