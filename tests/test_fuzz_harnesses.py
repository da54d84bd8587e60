"""The fuzz harnesses (fuzz/) stay runnable, and the decoders they drive hold their invariants.

``make fuzz`` runs the long campaign; here every harness runs its seeds and a few hundred
random or mutated inputs (bounded by the hypothesis profile), so a harness that rots, or a
decoder that starts raising an untyped error, fails the normal suite. The harnesses for the
Hermes, CFX and serial decoders have hypothesis twins in their own test modules already; the
Modbus adapter, the CFX listener and its SASL gate, and the HTTP API get theirs here.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Iterator

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from fuzz.harness import Harness, Recorder, Target, run_plain
from fuzz.runner import harnesses

HARNESSES = {h.name: h for h in harnesses()}


@pytest.fixture(autouse=True)
def _quiet() -> Iterator[None]:
    """Rejections are logged by design; keep them out of the output (and restore logging)."""
    with structlog.testing.capture_logs():
        yield


@functools.cache
def _target(name: str) -> Target:
    """Each harness's target, built once (event loops, a temp outbox)."""
    target = HARNESSES[name].make()
    asyncio.set_event_loop(None)  # the harness drives its own loop; leave no global one behind
    return target


def _outcome(name: str, data: bytes) -> Recorder:
    harness = HARNESSES[name]
    recorder = Recorder(harness, _target(name), 1, hang_seconds=5.0)
    recorder.one(data)
    return recorder


def _assert_typed(recorder: Recorder) -> None:
    assert not recorder.crashes, recorder.crashes
    assert not recorder.hangs


def test_every_decoder_has_a_harness() -> None:
    assert set(HARNESSES) == {
        "hermes-framer",
        "hermes-xml-pure",
        "hermes-xml-cython",
        "hermes-codec",
        "hermes-connection",
        "cfx-codec",
        "serial-framers",
        "modbus-adapter",
        "cfx-listener-request",
        "cfx-sasl-gate",
        "http-api",
        "result-files-xml",
        "result-files-csv",
    }


@pytest.mark.parametrize("harness", list(HARNESSES.values()), ids=lambda h: h.name)
def test_each_harness_runs_its_seeds_and_random_bytes(harness: Harness) -> None:
    """Seeds are mostly accepted; random bytes are rejected with a typed error; nothing crashes."""
    rng = random.Random(harness.name)
    noise = [rng.randbytes(rng.randrange(0, 300)) for _ in range(30)]
    seeds = list(harness.seeds())
    recorder = run_plain(harness, seeds + noise, hang_seconds=5.0)
    assert recorder.inputs == len(seeds) + len(noise)
    _assert_typed(recorder)
    assert recorder.accepted >= 1  # at least one seed is a valid input
    figures = recorder.figures()
    assert figures["rejected"] == sum(recorder.rejected.values())
    assert figures["peak_rss_mib"] > 0


def _mutated(name: str) -> st.SearchStrategy[bytes]:
    """A seed of the harness with a few bytes replaced, inserted or cut."""

    @st.composite
    def build(draw: st.DrawFn) -> bytes:
        raw = bytearray(draw(st.sampled_from(list(HARNESSES[name].seeds()))))
        for _ in range(draw(st.integers(1, 4))):
            at = draw(st.integers(0, max(0, len(raw) - 1)))
            action = draw(st.sampled_from(["set", "insert", "cut"]))
            byte = draw(st.integers(0, 255))
            if action == "set" and raw:
                raw[at] = byte
            elif action == "insert":
                raw.insert(at, byte)
            else:
                del raw[at : at + draw(st.integers(1, 64))]
        return bytes(raw)

    return build()


@given(st.one_of(st.binary(max_size=600), _mutated("modbus-adapter")))
def test_modbus_responses_through_the_adapter_poll_or_raise_linegate_errors(data: bytes) -> None:
    """Any response bytes, framed and decoded by pymodbus's client framer, give observations or
    TransportError / RemoteProtocolError from the adapter; no pymodbus or Python error escapes."""
    _assert_typed(_outcome("modbus-adapter", data))


@given(st.one_of(st.binary(max_size=400), _mutated("cfx-listener-request")))
def test_cfx_listener_answers_every_request_or_counts_it_malformed(data: bytes) -> None:
    """Any request body (raw or gzip, with or without message-id / reply-to) is answered or
    counted malformed by the listener; no exception escapes its request path."""
    _assert_typed(_outcome("cfx-listener-request", data))


@given(st.one_of(st.binary(max_size=200), _mutated("cfx-sasl-gate")))
def test_sasl_gate_admits_refuses_or_drops_any_peer_bytes(data: bytes) -> None:
    """Any bytes at the SASL front door admit the peer (only with the right PLAIN credentials
    when credentials are set), refuse it, or drop it with an error the gate handles."""
    _assert_typed(_outcome("cfx-sasl-gate", data))


@given(st.one_of(st.binary(max_size=400), _mutated("http-api")))
def test_http_api_answers_any_request_bytes_below_500(data: bytes) -> None:
    """Any request bytes get an answer below 500 (502/503 on purpose) from the HTTP API, or a
    4xx from aiohttp's parser; no handler raises, and no handler outlives its connection."""
    _assert_typed(_outcome("http-api", data))
