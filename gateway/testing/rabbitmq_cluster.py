"""A real RabbitMQ cluster on this machine, for tests: three nodes of the installed rabbitmq-server.

Each node gets its own name (``<prefix>-<n>@localhost``), AMQP port and Erlang distribution port
(both on 127.0.0.1), data, log and config files under one base directory; the nodes share one
Erlang cookie (``$HOME/.erlang.cookie``, with ``HOME`` pointed at the base directory, for the
nodes and for ``rabbitmqctl`` alike). They are started together and form one cluster by peer
discovery from the config file (``classic_config`` lists the three; since 3.8.18 a lock among
the booting nodes makes exactly one of them form the cluster and the others join it), so no
``join_cluster`` round of CLI calls is needed. Plugins: ``rabbitmq_amqp1_0`` by default (the
management plugin is left out on purpose: it would bind 15672 on every node).

A node is ready when its AMQP port answers the AMQP protocol header (RabbitMQ opens its
listeners last in its boot);
the port is probed every 0.1 s, with no fixed sleep, and a node whose VM exits fails the start at
once with the end of its log. The cluster is then checked with one ``rabbitmqctl
cluster_status``. A node started by
``rabbitmq-server`` with ``RUNNING_UNDER_SYSTEMD`` set is the Erlang VM itself (the script
``exec``s it), so :meth:`RabbitMQCluster.kill` is a real ``kill -9`` of the node.

Usage::

    with RabbitMQCluster(tmp_dir) as cluster:   # started and clustered
        cluster.nodes[0].url                    # amqp://guest:guest@127.0.0.1:<port>/
        cluster.kill(cluster.nodes[0])          # SIGKILL of the node's VM
        cluster.partition(cluster.nodes[0])     # its distribution traffic dropped (nftables)
        cluster.heal()                          # every node running and in the cluster again

Partitions: every node's distribution listens on 127.0.0.1 but connects to the others from an
address of its own (``127.0.0.<11+n>``, :attr:`RabbitNode.dist_source`), so an nftables table
can drop exactly the packets between one node and the others, both ways and silently (a pulled
cable, not a refused connection), while its AMQP port and ``rabbitmqctl`` still reach it.
:meth:`RabbitMQCluster.set_partition_handling` picks what the nodes do about it
(``pause_minority`` is what docs/deployment.md recommends; they start with RabbitMQ's default,
``ignore``), and :meth:`RabbitMQCluster.set_net_ticktime` shortens the Erlang distribution's failure detection
(60 s by default) so a test needs not wait a minute for it.

The pytest plugin's ``rabbitmq_cluster`` fixture hands one out (one cluster per session, healed
before each test).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

#: Where the Debian/Ubuntu package puts the server script (it also sits on PATH in /usr/sbin).
SERVER_SCRIPT = Path("/usr/lib/rabbitmq/bin/rabbitmq-server")
#: Ports never handed to a test node: the machine's own broker, the soak broker, management.
RESERVED_PORTS = frozenset({5672, 5671, 5699, 15672, 25672, 25699, 4369, 1883, 5432})
#: Range the node ports are drawn from: below Linux's ephemeral ports (32768 and up by default),
#: so an outgoing connection of any process cannot take a port between its pick and the node's
#: bind, and low enough that ``dist_port + 10000 ... + 10010``, which the CLI tools use for
#: themselves, stays below them too.
PORT_RANGE = (20000, 22700)


#: Seconds between two probes of a booting node's AMQP port.
_PROBE_INTERVAL = 0.1
#: The Erlang distribution's net_ticktime the nodes start with (the VM's default).
DEFAULT_NET_TICKTIME = 60
#: RabbitMQ's ways to handle a partition (``cluster_partition_handling``); ``ignore`` is its
#: default and the nodes start with it (with ``pause_minority`` a node left alone after two
#: kills would pause, and the tests of a lost majority want it serving).
PARTITION_HANDLINGS = ("ignore", "pause_minority", "autoheal")


class ClusterError(RuntimeError):
    """The cluster could not be started, or a node did not do what it was told."""


class ServerMissing(ClusterError):
    """rabbitmq-server is not installed here."""


class PartitionUnavailable(ClusterError):
    """This machine cannot partition a node: no ``nft``, or not allowed to change the firewall."""


def _check_handling(mode: str) -> None:
    if mode not in PARTITION_HANDLINGS:
        raise ValueError(
            f"cluster_partition_handling {mode!r}: expected one of {', '.join(PARTITION_HANDLINGS)}"
        )


def server_script() -> Path | None:
    """The rabbitmq-server start script, or None when RabbitMQ is not installed."""
    if SERVER_SCRIPT.exists():
        return SERVER_SCRIPT
    found = shutil.which("rabbitmq-server")
    return Path(found) if found else None


def ctl_script() -> Path | None:
    """The rabbitmqctl script beside the server script, or None."""
    server = server_script()
    if server is None:
        return None
    beside = server.with_name("rabbitmqctl")
    if beside.exists():
        return beside
    found = shutil.which("rabbitmqctl")
    return Path(found) if found else None


def _port_free(port: int) -> bool:
    for host in ("127.0.0.1", "0.0.0.0"):
        with socket.socket() as s:
            try:
                s.bind((host, port))
            except OSError:
                return False
    return True


def pick_ports(count: int, *, avoid: Sequence[int] = ()) -> list[int]:
    """``count`` distinct ports in :data:`PORT_RANGE` that were free a moment ago."""
    taken = set(RESERVED_PORTS) | set(avoid)
    chosen: list[int] = []
    rng = random.Random()
    for _ in range(2000):
        port = rng.randrange(*PORT_RANGE)
        if port in taken or not _port_free(port):
            continue
        taken.add(port)
        chosen.append(port)
        if len(chosen) == count:
            return chosen
    raise ClusterError(f"no {count} free ports in {PORT_RANGE[0]}..{PORT_RANGE[1]}")


@dataclass
class RabbitNode:
    """One node of the cluster: its names, ports, files and (while it runs) its VM process."""

    index: int
    name: str
    amqp_port: int
    dist_port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The AMQP 0-9-1 URL of this node (guest/guest, default vhost)."""
        return f"amqp://guest:guest@127.0.0.1:{self.amqp_port}/"

    @property
    def dist_source(self) -> str:
        """The loopback address this node's distribution connects to the others from."""
        return f"127.0.0.{11 + self.index}"

    @property
    def pid(self) -> int | None:
        """The OS pid of the node's Erlang VM while it runs, else None."""
        if self.process is None or self.process.poll() is not None:
            return None
        return self.process.pid

    @property
    def running(self) -> bool:
        """True while the node's VM process is alive (its rabbit app may still be stopped)."""
        return self.pid is not None

    @property
    def log_file(self) -> Path:
        """The node's main log file."""
        return self.directory / "log" / f"{self.name}.log"

    @property
    def console_file(self) -> Path:
        """What the VM wrote to stdout/stderr."""
        return self.directory / "console.txt"


class RabbitMQCluster:
    """Three (``size``) RabbitMQ nodes on this machine, clustered; a context manager.

    Args:
        base: a directory of its own (created); node data, logs and the cookie live here.
        size: how many nodes.
        plugins: the plugins enabled on every node.
        prefix: node names are ``<prefix>-<n>@localhost``; the default is unique per process
            and call, so concurrent clusters on one machine do not collide in epmd.
        timeout: seconds allowed for the cluster to start (and for each later heal).
    """

    def __init__(
        self,
        base: Path,
        *,
        size: int = 3,
        plugins: Sequence[str] = ("rabbitmq_amqp1_0",),
        prefix: str | None = None,
        timeout: float = 120.0,
        partition_handling: str = "ignore",
    ) -> None:
        if size < 1:
            raise ValueError(f"a cluster needs at least one node, got {size}")
        _check_handling(partition_handling)
        server, ctl = server_script(), ctl_script()
        if server is None or ctl is None:
            raise ServerMissing(
                "rabbitmq-server is not installed (looked for "
                f"{SERVER_SCRIPT} and on PATH); install it: apt-get install rabbitmq-server"
            )
        self.server = server
        self.ctl_path = ctl
        self.base = Path(base)
        self.plugins = tuple(plugins)
        self.timeout = timeout
        self.prefix = prefix or f"lgc{os.getpid()}{secrets.token_hex(2)}"
        self.cookie = secrets.token_hex(16).upper()
        ports = pick_ports(2 * size)
        self.nodes = [
            RabbitNode(
                index=i,
                name=f"{self.prefix}-{i + 1}@localhost",
                amqp_port=ports[2 * i],
                dist_port=ports[2 * i + 1],
                directory=self.base / f"node{i + 1}",
            )
            for i in range(size)
        ]
        #: Seconds the last :meth:`start` took, from the first spawn to every node clustered.
        self.start_seconds: float | None = None
        #: The node :meth:`partition` cut off, until :meth:`unpartition`.
        self.partitioned: RabbitNode | None = None
        #: The net_ticktime last set on the nodes.
        self.net_ticktime = DEFAULT_NET_TICKTIME
        #: The partition handling the nodes start with, and the one in force now.
        self.partition_handling = partition_handling
        self.partition_handling_now = partition_handling

    # -- lifetime --------------------------------------------------------------------------

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    @property
    def urls(self) -> list[str]:
        """Every node's AMQP URL, in node order."""
        return [node.url for node in self.nodes]

    def start(self) -> None:
        """Write the files, spawn every node at once, wait until each one runs in one cluster.

        Raises:
            ClusterError: a node exited or did not start in time (the message quotes its log);
                every node started is stopped again first.
        """
        began = time.monotonic()
        self._write_files()
        try:
            for node in self.nodes:
                self._spawn(node)
            self._await_all(self.nodes)
            self._check_clustered()
        except BaseException:
            self.stop()
            raise
        self.start_seconds = time.monotonic() - began

    def stop(self) -> None:
        """Stop every node: SIGTERM (a clean shutdown), SIGKILL after 30 s. Never raises."""
        with contextlib.suppress(ClusterError):
            self.unpartition()
        for node in self.nodes:
            if node.running and node.process is not None:
                with contextlib.suppress(ProcessLookupError):
                    node.process.send_signal(signal.SIGTERM)
        for node in self.nodes:
            if node.process is None:
                continue
            try:
                node.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                node.process.kill()
                node.process.wait()
            node.process = None

    # -- faults ----------------------------------------------------------------------------

    def kill(self, node: RabbitNode) -> None:
        """``kill -9`` the node's Erlang VM and reap it."""
        if node.process is None or node.process.poll() is not None:
            raise ClusterError(f"{node.name} is not running")
        node.process.send_signal(signal.SIGKILL)
        node.process.wait()

    def stop_app(self, node: RabbitNode) -> None:
        """``rabbitmqctl stop_app``: a clean stop of RabbitMQ on the node (the VM keeps running)."""
        self.ctl(node, "stop_app")

    def start_app(self, node: RabbitNode) -> None:
        """``rabbitmqctl start_app`` and wait until the node is up again."""
        self.ctl(node, "start_app")
        self._await_all([node])

    async def akill(self, node: RabbitNode) -> None:
        """:meth:`kill` for a coroutine (the reaping runs in a thread)."""
        await asyncio.to_thread(self.kill, node)

    async def astop_app(self, node: RabbitNode) -> None:
        """:meth:`stop_app` without blocking the event loop (the CLI takes a second or two)."""
        await asyncio.to_thread(self.stop_app, node)

    async def astart_app(self, node: RabbitNode) -> None:
        """:meth:`start_app` without blocking the event loop."""
        await asyncio.to_thread(self.start_app, node)

    async def aheal(self) -> None:
        """:meth:`heal` without blocking the event loop."""
        await asyncio.to_thread(self.heal)

    def heal(self) -> None:
        """Bring every node back: end a partition, respawn killed nodes, start stopped apps, the
        default net_ticktime again; wait until all run."""
        if self.partitioned is not None:
            self.unpartition()
            # A node paused in the minority starts itself again once it sees the others.
            self._await_all(self.nodes)
        down = [node for node in self.nodes if not node.running]
        for node in down:
            self._spawn(node)
        stopped = [node for node in self.nodes if node not in down and not self._listening(node)]
        for node in stopped:
            self.ctl(node, "start_app")
        if down or stopped:
            self._await_all([*down, *stopped])
        if self.net_ticktime != DEFAULT_NET_TICKTIME:
            self.set_net_ticktime(DEFAULT_NET_TICKTIME)
        if self.partition_handling_now != self.partition_handling:
            self.set_partition_handling(self.partition_handling)

    # -- partitions ------------------------------------------------------------------------

    @property
    def nft_table(self) -> str:
        """The nftables table (family ``ip``) that holds this cluster's partition rules."""
        return f"linegate_{self.prefix}"

    def partition(self, node: RabbitNode) -> None:
        """Cut ``node`` off from the other nodes: every packet of the Erlang distribution
        between it and them is dropped, both ways, until :meth:`unpartition`. Clients (AMQP)
        and ``rabbitmqctl`` still reach every node. One partition at a time.

        Raises:
            PartitionUnavailable: ``nft`` is missing or the rules were refused (not root).
            ClusterError: a node is already partitioned.
        """
        if self.partitioned is not None:
            raise ClusterError(f"{self.partitioned.name} is already partitioned")
        peers = [other for other in self.nodes if other is not node]
        ports = ", ".join(str(other.dist_port) for other in peers)
        sources = ", ".join(other.dist_source for other in peers)
        # OUTPUT sees every loopback packet (each is sent before it is received): the node's
        # own connections to the others (its source address, their ports) and theirs to it.
        rules = (
            f"table ip {self.nft_table} {{\n"
            "  chain output {\n"
            "    type filter hook output priority 0; policy accept;\n"
            f"    ip saddr {node.dist_source} tcp dport {{ {ports} }} drop\n"
            f"    ip daddr {node.dist_source} tcp sport {{ {ports} }} drop\n"
            f"    ip saddr {{ {sources} }} tcp dport {node.dist_port} drop\n"
            f"    ip daddr {{ {sources} }} tcp sport {node.dist_port} drop\n"
            "  }\n"
            "}\n"
        )
        self._nft("-f", "-", stdin=rules)
        self.partitioned = node

    def unpartition(self) -> None:
        """Drop the partition rules (if any): the nodes reconnect by themselves."""
        if self.partitioned is None:
            return
        self._nft("delete", "table", "ip", self.nft_table)
        self.partitioned = None

    async def apartition(self, node: RabbitNode) -> None:
        """:meth:`partition` without blocking the event loop."""
        await asyncio.to_thread(self.partition, node)

    async def aunpartition(self) -> None:
        """:meth:`unpartition` without blocking the event loop."""
        await asyncio.to_thread(self.unpartition)

    def set_net_ticktime(self, seconds: int) -> None:
        """Set the Erlang distribution's net_ticktime on every running node at once and wait
        until it is in force (a node is declared down after about that long without traffic).

        Raises:
            ClusterError: a node refused it or did not take it in time.
        """
        names = ", ".join(f"'{node.name}'" for node in self.nodes if node.running)
        via = next(node for node in self.nodes if node.running)
        # A one-second transition period: lowering takes effect after it (rounded up to a
        # quarter of the lower ticktime), with ticks that often meanwhile.
        out = self.ctl(
            via, "eval", f"rpc:multicall([{names}], net_kernel, set_net_ticktime, [{seconds}, 1])."
        )
        if "badrpc" in out or "ongoing_change_to" in out:
            raise ClusterError(f"net_ticktime {seconds} refused: {out.strip()}")
        deadline = time.monotonic() + self.timeout
        expected = '"{[' + ",".join([str(seconds)] * len(names.split(", "))) + '],[]}"'
        # Formatted with ~w: the shell would print a list of small integers as a string.
        ticktimes = f"rpc:multicall([{names}], net_kernel, get_net_ticktime, [])"
        ask = f'lists:flatten(io_lib:format("~w", [{ticktimes}])).'
        while True:
            out = self.ctl(via, "eval", ask)
            if out.strip() == expected:
                break
            if time.monotonic() > deadline:
                raise ClusterError(
                    f"net_ticktime {seconds} not in force within {self.timeout} s: {out.strip()}"
                )
            time.sleep(0.5)
        self.net_ticktime = seconds

    def set_partition_handling(self, mode: str) -> None:
        """Set ``cluster_partition_handling`` on every running node at once (RabbitMQ reads it
        when a node goes down, so it applies to the next partition).

        Raises:
            ValueError: not one of :data:`PARTITION_HANDLINGS`.
            ClusterError: a node did not take it.
        """
        _check_handling(mode)
        names = ", ".join(f"'{node.name}'" for node in self.nodes if node.running)
        via = next(node for node in self.nodes if node.running)
        call = f"rpc:multicall([{names}], application, set_env, [rabbit, cluster_partition_handling, {mode}])"
        out = self.ctl(via, "eval", f'lists:flatten(io_lib:format("~w", [{call}])).')
        if out.strip() != '"{[' + ",".join(["ok"] * len(names.split(", "))) + '],[]}"':
            raise ClusterError(f"cluster_partition_handling {mode} refused: {out.strip()}")
        self.partition_handling_now = mode

    async def aset_partition_handling(self, mode: str) -> None:
        """:meth:`set_partition_handling` without blocking the event loop."""
        await asyncio.to_thread(self.set_partition_handling, mode)

    async def aset_net_ticktime(self, seconds: int) -> None:
        """:meth:`set_net_ticktime` without blocking the event loop."""
        await asyncio.to_thread(self.set_net_ticktime, seconds)

    def _nft(self, *args: str, stdin: str | None = None) -> None:
        nft = shutil.which("nft")
        if nft is None:
            raise PartitionUnavailable("nft is not installed; install it: apt-get install nftables")
        done = subprocess.run(
            [nft, *args],
            input=stdin.encode() if stdin else None,
            capture_output=True,
            timeout=30,
            check=False,
        )
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace").strip()
            raise PartitionUnavailable(f"nft {' '.join(args)} failed (root is needed): {output[-1000:]}")

    def serving(self, node: RabbitNode) -> bool:
        """True when the node's RabbitMQ answers on its AMQP port (False while its app is stopped
        or paused in a partition's minority, or its VM is down)."""
        return self._listening(node)

    def wait_serving(self, nodes: Sequence[RabbitNode]) -> None:
        """Wait until each node serves AMQP (a paused node restarts by itself once it sees the
        majority again), at most the cluster's timeout.

        Raises:
            ClusterError: a node's VM exited, or a node did not serve in time.
        """
        self._await_all(nodes)

    def node_for_port(self, port: int) -> RabbitNode:
        """The node listening for AMQP on ``port``."""
        for node in self.nodes:
            if node.amqp_port == port:
                return node
        raise KeyError(f"no node of the cluster listens on {port}")

    # -- the CLI ---------------------------------------------------------------------------

    def ctl_command(self, node: RabbitNode, *args: str) -> list[str]:
        """The ``rabbitmqctl`` command line for ``node`` (run it with :meth:`env`)."""
        return [str(self.ctl_path), "-n", node.name, *args]

    def env(self, node: RabbitNode | None = None) -> dict[str, str]:
        """The environment a node (or, without one, the CLI) runs with."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(("RABBITMQ_", "ERL_")) and k != "HOME"}
        env["HOME"] = str(self.base)  # the cookie is $HOME/.erlang.cookie
        env["LC_ALL"] = env.get("LC_ALL", "C.UTF-8")
        if node is None:
            return env
        d = node.directory
        env.update(
            RABBITMQ_NODENAME=node.name,
            RABBITMQ_NODE_IP_ADDRESS="127.0.0.1",
            RABBITMQ_NODE_PORT=str(node.amqp_port),
            RABBITMQ_DIST_PORT=str(node.dist_port),
            RABBITMQ_MNESIA_BASE=str(d / "mnesia"),
            RABBITMQ_LOG_BASE=str(d / "log"),
            RABBITMQ_ENABLED_PLUGINS_FILE=str(d / "enabled_plugins"),
            RABBITMQ_CONFIG_FILE=str(d / "rabbitmq"),  # the server adds .conf
            RABBITMQ_ADVANCED_CONFIG_FILE=str(d / "advanced.config"),
            RABBITMQ_PID_FILE=str(d / "pid"),
            # The distribution listens on loopback only.
            RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}",
            # The script then execs the VM: this process is the node (kill -9 kills the node).
            RUNNING_UNDER_SYSTEMD="true",
        )
        return env

    def ctl(self, node: RabbitNode, *args: str, timeout: float = 60.0) -> str:
        """Run ``rabbitmqctl -n NODE ARGS``; its stdout.

        Raises:
            ClusterError: it failed (the message has its output).
        """
        try:
            done = subprocess.run(
                self.ctl_command(node, *args),
                env=self.env(),
                capture_output=True,
                timeout=timeout,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise ClusterError(
                f"rabbitmqctl {' '.join(args)} on {node.name}: no answer in {timeout} s"
            ) from exc
        if done.returncode != 0:
            output = (done.stdout + done.stderr).decode(errors="replace").strip()
            raise ClusterError(f"rabbitmqctl {' '.join(args)} on {node.name} failed: {output[-2000:]}")
        return done.stdout.decode(errors="replace")

    # -- internals -------------------------------------------------------------------------

    def _write_files(self) -> None:
        self.base.mkdir(parents=True, exist_ok=True)
        cookie = self.base / ".erlang.cookie"
        if cookie.exists():
            cookie.chmod(0o600)
        cookie.write_text(self.cookie)
        cookie.chmod(0o400)  # Erlang refuses a cookie others may read
        peers = "\n".join(
            f"cluster_formation.classic_config.nodes.{node.index + 1} = {node.name}" for node in self.nodes
        )
        for node in self.nodes:
            node.directory.mkdir(parents=True, exist_ok=True)
            (node.directory / "enabled_plugins").write_text(f"[{','.join(self.plugins)}].\n")
            # Read by the prelaunch before it starts the distribution. Not an ERL arg: the
            # server script passes those unquoted through sh, which would glob the brackets.
            address = node.dist_source.replace(".", ",")
            (node.directory / "advanced.config").write_text(
                f"[{{kernel, [{{inet_dist_connect_options, [{{ip, {{{address}}}}}]}}]}}].\n"
            )
            (node.directory / "rabbitmq.conf").write_text(
                f"listeners.tcp.default = 127.0.0.1:{node.amqp_port}\n"
                "loopback_users = none\n"
                # A test machine's disk is shared and may be fuller than a broker would like.
                "disk_free_limit.absolute = 10MB\n"
                "cluster_formation.peer_discovery_backend = classic_config\n"
                f"cluster_partition_handling = {self.partition_handling}\n"
                f"{peers}\n"
            )

    def _spawn(self, node: RabbitNode) -> None:
        console = node.console_file.open("ab")
        try:
            node.process = subprocess.Popen(
                [str(self.server)],
                env=self.env(node),
                stdin=subprocess.DEVNULL,
                stdout=console,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # a Ctrl-C of pytest is not the node's SIGINT
                cwd=node.directory,  # where a crash dump (MnesiaCore.*, erl_crash.dump) lands
            )
        finally:
            console.close()

    def _await_all(self, nodes: Sequence[RabbitNode]) -> None:
        """Wait until every node's AMQP port answers (RabbitMQ opens its listeners last in its
        boot), failing at once when a node's VM exits.

        The port is probed every 0.1 s: cheaper than a ``rabbitmqctl wait`` per node, each of
        which is one more Erlang VM booting on the same cores (about 25 % slower on 2 cores).
        """
        deadline = time.monotonic() + self.timeout
        waiting = list(nodes)
        while waiting:
            for node in list(waiting):
                if not node.running:
                    code = node.process.returncode if node.process is not None else None
                    raise ClusterError(
                        f"RabbitMQ cluster: {node.name} did not start (exit status {code}){self._tail(node)}"
                    )
                if self._listening(node):
                    waiting.remove(node)
            if not waiting:
                return
            if time.monotonic() > deadline:
                names = ", ".join(node.name for node in waiting)
                raise ClusterError(
                    f"RabbitMQ cluster: {names} not started within {self.timeout} s{self._tail(waiting[0])}"
                )
            time.sleep(_PROBE_INTERVAL)

    def _check_clustered(self) -> None:
        if len(self.nodes) < 2:
            return
        status = self.ctl(self.nodes[0], "cluster_status", "--formatter", "json")
        missing = [node.name for node in self.nodes if f'"{node.name}"' not in status]
        if missing:
            raise ClusterError(f"RabbitMQ cluster: {', '.join(missing)} did not join: {status[:1000]}")

    @staticmethod
    def _listening(node: RabbitNode) -> bool:
        """True when the node's AMQP port answers an AMQP 0-9-1 protocol header with a method
        frame (connection.start): RabbitMQ itself, not some other process on that port. A running
        VM whose port refuses has its app stopped."""
        try:
            with socket.create_connection(("127.0.0.1", node.amqp_port), timeout=2.0) as probe:
                probe.sendall(b"AMQP\x00\x00\x09\x01")
                return probe.recv(1) == b"\x01"  # frame type 1: a method frame
        except OSError:
            return False

    @staticmethod
    def _tail(node: RabbitNode) -> str:
        for path in (node.log_file, node.console_file):
            with contextlib.suppress(OSError):
                lines = path.read_text(errors="replace").strip().splitlines()
                if lines:
                    return f"; {path}: " + " | ".join(lines[-5:])
        return ""
