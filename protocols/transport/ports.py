"""A free TCP port for a server that binds it later (simulated lines, tests).

Picking a port by binding to port 0 and closing at once races every later bind to port 0 and
every outgoing connection: with a dozen simulated machines each binding its own, the kernel
handed the port we had picked for the gateway's listener to a Hermes lane (seen on a loaded
2-core machine). So the port is left in TIME_WAIT instead: the kernel then hands it to no
``bind(0)`` and no outgoing connection for a minute, while an explicit bind with SO_REUSEADDR
(asyncio's servers set it on POSIX) still takes it at once.
"""

from __future__ import annotations

import socket


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on ``host`` that nothing holds and the kernel gives no one else for a minute;
    bind it with SO_REUSEADDR."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as server:
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind((host, 0))
        server.listen(1)
        port = int(server.getsockname()[1])
        with socket.create_connection((host, port)):
            accepted, _ = server.accept()
            # The side that closes first keeps the TIME_WAIT, on the port we want held.
            accepted.close()
    return port


__all__ = ["free_port"]
