"""The gateway's AMQP and MQTT sinks over TLS, against the real brokers, with a CA made here.

The sinks are built from a line configuration by ``start_gateway``, as ``linegate run`` builds
them. Events published through them arrive; a gateway that does not trust the broker's CA is
refused with the TLS verification error; ``linegate check`` names the key of a bad TLS file.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
import time
import uuid
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import aio_pika
import aiomqtt
import pytest
from structlog.testing import capture_logs

from adapters.cfx_native import BrokerEvents, CFXNativeAdapter
from gateway.assemble import build_adapter, start_gateway
from gateway.cli import main
from gateway.config import parse_config
from gateway.outbox import Priority, StoredEvent
from gateway.sinks.amqp import AmqpSink
from gateway.sinks.base import Sink
from gateway.sinks.mqtt import MqttSink
from protocols.cfx.envelope import Envelope
from protocols.cfx.messages import AreYouThereRequest
from protocols.cfx.transport import CFXPublisher, CFXSubscriber
from protocols.errors import TransportError
from tests.hardening.brokers_tls import mosquitto_tls, rabbitmq_tls
from tests.hardening.support import WAIT, until

SOURCE = "Acme.Tls.1"


def event(seq: int = 1) -> StoredEvent:
    """One stored event as a sink reads it from the outbox."""
    unique = str(uuid.uuid4())
    payload = b'{"$type":"CFX.Envelope","UniqueID":"%s","Source":"%s"}' % (unique.encode(), SOURCE.encode())
    return StoredEvent(seq, SOURCE, "CFX.Test.Tls", unique, payload, Priority.HIGH, time.time())


def line(tmp_path: Path, **sections: Any) -> dict[str, Any]:
    """A line config with no machines, its outbox in ``tmp_path`` and the listener on a free port."""
    return {
        "line": {"name": "tls"},
        "outbox": {"path": str(tmp_path / "outbox.sqlite")},
        "listener": {"host": "127.0.0.1", "port": 0},
        **sections,
    }


def the_sink(sinks: list[Sink], kind: type[Any]) -> Any:
    (sink,) = [s for s in sinks if isinstance(s, kind)]
    return sink


@contextlib.asynccontextmanager
async def exchange_queue(exchange: str) -> Any:
    """A queue bound to ``exchange`` on the plain listener (5672); both deleted afterwards."""
    connection = await aio_pika.connect("amqp://guest:guest@127.0.0.1:5672/")
    try:
        channel = await connection.channel()
        ex = await channel.declare_exchange(exchange, aio_pika.ExchangeType.TOPIC, durable=True)
        queue = await channel.declare_queue(exclusive=True)
        await queue.bind(ex, "#")
        try:
            yield queue
        finally:
            await ex.delete()
    finally:
        await connection.close()


async def test_amqp_sink_over_tls_delivers_and_an_untrusted_ca_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """amqps:// with [amqp.tls] ca_file: the event arrives; with a CA that did not sign the
    broker's certificate, every connect fails with the verification error and nothing is sent."""
    monkeypatch.setenv("LG_TEST_AMQP_PW", "guest")
    exchange = f"linegate-tls-{uuid.uuid4().hex[:8]}"
    async with rabbitmq_tls() as broker, exchange_queue(exchange) as queue:
        amqp = {
            "url": f"amqps://guest@localhost:{broker.port}/",
            "password_env": "LG_TEST_AMQP_PW",
            "exchange": exchange,
            "tls": {"ca_file": str(broker.pki.ca_file)},
        }
        config = parse_config(line(tmp_path / "good", amqp=amqp), path=str(tmp_path / "good.toml"))
        (tmp_path / "good").mkdir()
        async with AsyncExitStack() as stack:
            gateway, _ = await start_gateway(config, stack)
            sink: AmqpSink = the_sink(gateway.sinks, AmqpSink)
            sent = event()
            await sink.publish([sent])
            async with queue.iterator(timeout=WAIT) as messages:
                message = await anext(aiter(messages))
                await message.ack()
            assert message.body == sent.payload and message.message_id == sent.unique_id

        amqp["tls"] = {"ca_file": str(broker.other.ca_file)}
        config = parse_config(line(tmp_path / "bad", amqp=amqp), path=str(tmp_path / "bad.toml"))
        (tmp_path / "bad").mkdir()
        with capture_logs() as logs:
            async with AsyncExitStack() as stack:
                gateway, _ = await start_gateway(config, stack)
                sink = the_sink(gateway.sinks, AmqpSink)
                await until(lambda: any(e["event"] == "connect.failed" for e in logs))
                assert not sink.publisher.connected
        failed = next(e for e in logs if e["event"] == "connect.failed")
        assert "CERTIFICATE_VERIFY_FAILED" in failed["error"]
        assert failed["node"] == f"amqps://guest:***@localhost:{broker.port}/"


async def test_mqtt_sink_over_tls_delivers_and_an_untrusted_ca_is_refused(tmp_path: Path) -> None:
    """[mqtt.tls] ca_file: the event arrives at a TLS subscriber; with another CA the publish
    fails with a TransportError that carries the verification error."""
    prefix = f"linegate-tls-{uuid.uuid4().hex[:8]}"
    async with mosquitto_tls() as broker:
        mqtt = {
            "host": "localhost",
            "port": broker.port,
            "topic_prefix": prefix,
            "tls": {"ca_file": str(broker.pki.ca_file)},
        }
        trusted = ssl.create_default_context(cafile=str(broker.pki.ca_file))
        (tmp_path / "good").mkdir()
        config = parse_config(line(tmp_path / "good", mqtt=mqtt), path=str(tmp_path / "good.toml"))
        async with (
            aiomqtt.Client("localhost", broker.port, tls_context=trusted) as subscriber,
            AsyncExitStack() as stack,
        ):
            await subscriber.subscribe(f"{prefix}/#", qos=1)
            gateway, _ = await start_gateway(config, stack)
            sink: MqttSink = the_sink(gateway.sinks, MqttSink)
            sent = event()
            await sink.publish([sent])
            async with asyncio.timeout(WAIT):
                message = await anext(aiter(subscriber.messages))
            assert message.payload == sent.payload
            assert str(message.topic) == f"{prefix}/{SOURCE}/CFX.Test.Tls"

        mqtt["tls"] = {"ca_file": str(broker.other.ca_file)}
        (tmp_path / "bad").mkdir()
        config = parse_config(line(tmp_path / "bad", mqtt=mqtt), path=str(tmp_path / "bad.toml"))
        async with AsyncExitStack() as stack:
            gateway, _ = await start_gateway(config, stack)
            sink = the_sink(gateway.sinks, MqttSink)
            with pytest.raises(TransportError, match="certificate verify failed"):
                await sink.publish([event()])


def test_linegate_check_names_the_key_of_a_bad_tls_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """``linegate check`` reads the TLS files and names the key path of a missing or bad one;
    a key password written into the TOML is refused."""
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("not a certificate\n")
    cases = {
        'url = "amqps://localhost:5671/"\ntls = { ca_file = "/nonexistent/ca.pem" }': "amqp.tls.ca_file",
        f'url = "amqps://localhost:5671/"\ntls = {{ ca_file = "{not_pem}" }}': "amqp.tls.ca_file",
        'url = "amqps://localhost:5671/"\ntls = { cert_file = "/x.pem" }': "amqp.tls.key_file",
        'url = "amqp://localhost:5672/"\ntls = { verify_hostname = false }': "amqp.tls",
        'url = "amqps://localhost:5671/"\ntls = { key_password = "hunter2" }': "amqp.tls.key_password",
    }
    for index, (amqp, key) in enumerate(cases.items()):
        path = tmp_path / f"line{index}.toml"
        path.write_text(f'[line]\nname = "x"\n\n[amqp]\n{amqp}\n')
        assert main(["check", str(path)]) == 1
        err = capsys.readouterr().err
        assert f"{path}: {key}:" in err, err
        assert "hunter2" not in err
    path = tmp_path / "mqtt.toml"
    path.write_text(f'[line]\nname = "x"\n\n[mqtt]\nhost = "localhost"\ntls = {{ ca_file = "{not_pem}" }}\n')
    assert main(["check", str(path)]) == 1
    assert f"{path}: mqtt.tls.ca_file:" in capsys.readouterr().err


async def test_cfx_machine_events_from_the_broker_over_tls(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CFX machine with ``events = "broker"`` subscribes over amqps:// with the gateway's
    [amqp.tls]: an envelope published over TLS reaches its subscriber; with another CA the
    subscription fails with the verification error."""
    monkeypatch.setenv("LG_TEST_AMQP_PW", "guest")
    tag = uuid.uuid4().hex[:8]
    handle = f"Acme.TlsPlacer.{tag}"
    async with rabbitmq_tls() as broker:
        for ca, works in ((broker.pki.ca_file, True), (broker.other.ca_file, False)):
            data = line(
                tmp_path,
                amqp={
                    "url": f"amqps://guest@localhost:{broker.port}/",
                    "password_env": "LG_TEST_AMQP_PW",
                    "tls": {"ca_file": str(ca)},
                },
                machines=[
                    {
                        "id": "placer1",
                        "handle": handle,
                        "protocol": "cfx",
                        "connection": {"events": "broker", "exchange": f"linegate-tls-{tag}"},
                    }
                ],
            )
            config = parse_config(data, path=str(tmp_path / "line.toml"))
            adapter = build_adapter(config, config.machines[0], 0)
            assert isinstance(adapter, CFXNativeAdapter) and isinstance(adapter.events, BrokerEvents)
            events = adapter.events
            assert events.ssl_context is not None
            subscriber = CFXSubscriber(
                f"amqps://guest:guest@localhost:{broker.port}/",
                queue=f"linegate-tls-{tag}",
                exchange=events.exchange,
                durable=False,
                auto_delete=True,
                ssl_context=events.ssl_context,
            )
            if not works:
                with pytest.raises(TransportError, match="CERTIFICATE_VERIFY_FAILED"):
                    await subscriber.__aenter__()
                continue
            async with (
                subscriber,
                CFXPublisher(
                    f"amqps://guest:guest@localhost:{broker.port}/",
                    exchange=events.exchange,
                    ssl_context=events.ssl_context,
                ) as publisher,
            ):
                sent = Envelope.create(AreYouThereRequest(), source=handle)
                await publisher.publish(sent)
                async with asyncio.timeout(WAIT):
                    received = await anext(aiter(subscriber))
                assert received.unique_id == sent.unique_id
            async with exchange_queue(events.exchange):
                pass  # deletes the exchange
