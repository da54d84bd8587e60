"""docs/configuration.md, generated from the typed config so that it cannot drift.

Every key's type, default, description and example come from the fields of the config's
dataclasses (``gateway.config_model``, ``gateway.config_connections``, ``gateway.files_config``)
and their :func:`~gateway.config_model.doc` metadata. Regenerate after changing a key::

    python -m gateway.config_reference --write

``tests/gateway/test_config_reference.py`` fails when a key is undocumented or the file is stale.
"""

from __future__ import annotations

import argparse
import dataclasses
import enum
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.files import Disposal, Watch
from gateway.config_connections import (
    BridgeLinkConfig,
    CfxConnection,
    CfxEvents,
    ModbusConnection,
    OpcUaConnection,
    OpcUaSecurityConfig,
    ScannerConnection,
    SerialConnection,
    TesterConnection,
    VerticalLinkConfig,
)
from gateway.config_model import (
    AmqpConfig,
    ChangeoverAt,
    ChangeoverConfig,
    HermesLink,
    HttpConfig,
    Interlock,
    LineConfig,
    ListenerConfig,
    MachineConfig,
    MqttConfig,
    OutboxConfig,
    PeerLimitsConfig,
    Protocol,
    RecipeRef,
    TlsConfig,
)
from gateway.files_config import FilesConnection
from gateway.trace.control import ControlConfig, Rule

DOC_PATH = Path(__file__).resolve().parents[1] / "docs" / "configuration.md"
_ENUMS: dict[str, type[enum.Enum]] = {
    cls.__name__: cls for cls in (Protocol, Interlock, ChangeoverAt, CfxEvents, Watch, Disposal)
}
_TYPES = {
    "str": "string",
    "int": "integer",
    "float": "number",
    "bool": "boolean",
    "tuple[str, ...]": "array of strings",
    "frozenset[str]": "array of strings",
    "TlsConfig": "boolean or table",
    "OpcUaSecurityConfig": "table",
    "Connection": "table",
    "Readiness": "string or table",
}


@dataclass(frozen=True, slots=True)
class Section:
    """One table of the file: its heading, the dataclass behind it, and what to say first."""

    heading: str
    tables: tuple[type[Any], ...]
    intro: str
    example_heading: str | None = None  # the TOML heading of the example, when not ``heading``
    lead: str = ""  # example lines before the heading (the machine a connection belongs to)
    body: str = ""  # the example's lines, where they are not one per key


def _machine(protocol: str) -> str:
    return f'[[machines]]\nid = "m1"\nhandle = "Acme.Machine.1"\nprotocol = "{protocol}"'


SECTIONS = (
    Section("[line]", (LineConfig,), "The line itself."),
    Section(
        "[[machines]]",
        (MachineConfig,),
        "One entry per machine, in the order of the line. `connection` depends on `protocol`: "
        "see the sections below.",
    ),
    Section(
        '[machines.connection] (protocol = "modbus")',
        (ModbusConnection,),
        ModbusConnection.__doc__ or "",
        "[machines.connection]",
        lead=_machine("modbus"),
    ),
    Section(
        '[machines.connection] (protocol = "opcua")',
        (OpcUaConnection,),
        OpcUaConnection.__doc__ or "",
        "[machines.connection]",
        lead=_machine("opcua"),
    ),
    Section(
        "[machines.connection.security] (OPC UA)",
        (OpcUaSecurityConfig,),
        OpcUaSecurityConfig.__doc__ or "",
        "[machines.connection.security]",
        lead=_machine("opcua") + '\n[machines.connection]\nurl = "opc.tcp://10.0.0.6:4840"',
    ),
    Section(
        '[machines.connection] (protocol = "serial")',
        (SerialConnection,),
        SerialConnection.__doc__ or "",
        "[machines.connection]",
        lead=_machine("serial"),
    ),
    Section(
        '[machines.connection] (protocol = "scanner")',
        (ScannerConnection,),
        ScannerConnection.__doc__ or "",
        "[machines.connection]",
        lead=_machine("scanner"),
    ),
    Section(
        '[machines.connection] (protocol = "tester")',
        (TesterConnection,),
        TesterConnection.__doc__ or "",
        "[machines.connection]",
        lead=_machine("tester"),
    ),
    Section(
        '[machines.connection] (protocol = "cfx")',
        (CfxConnection,),
        (CfxConnection.__doc__ or "") + " It needs no map.",
        "[machines.connection]",
        lead=_machine("cfx"),
    ),
    Section(
        '[machines.connection] (protocol = "files")',
        (FilesConnection,),
        FilesConnection.__doc__ or "",
        "[machines.connection]",
        lead=_machine("files"),
    ),
    Section(
        "[products]",
        (RecipeRef,),
        "The recipe of each machine for each product: `[products.<product>]` holds `<machine id> = "
        '"<recipe>"`, or `<machine id> = { name = "<recipe>", revision = "<revision>" }` with the keys '
        "below.",
        "[products.PCB-A]",
        body='oven1 = "PROFILE-A"\nsolder1 = { name = "PGM-A", revision = "3" }',
    ),
    Section(
        "[[hermes.vertical]]",
        (HermesLink, VerticalLinkConfig),
        "A Hermes vertical channel (SupervisorySystemPort) to a machine: the boards it holds, "
        "and work derived from them where the machine's protocol does not report it.",
    ),
    Section(
        "[[hermes.bridges]]",
        (HermesLink, BridgeLinkConfig),
        BridgeLinkConfig.__doc__ or "",
    ),
    Section("[outbox]", (OutboxConfig,), "The durable outbox every event passes through."),
    Section(
        "[trace]",
        (ControlConfig,),
        "The trace service inside the gateway: every board's history in an embedded store, and "
        "the interlocks below (docs/trace.md). Present (or any [[interlock]]) turns it on.",
    ),
    Section(
        "[[interlock]]",
        (Rule,),
        "A rule a board must meet before a machine processes it, enforced where the machine asks "
        "(CFX ValidateUnitsRequest, the Hermes vertical channel, a Hermes bridge) and from the "
        "gateway's own store, so it holds while the broker is down (docs/trace.md).",
    ),
    Section(
        "[amqp]",
        (AmqpConfig,),
        "The AMQP 0-9-1 broker the CFX envelopes are published to. Without [amqp] and [mqtt], "
        "events go to the outbox and a JSON-lines file beside it.",
    ),
    Section(
        "[amqp.tls], [mqtt.tls], [listener.tls]",
        (TlsConfig,),
        "TLS files (relative to the config file); `tls = true` instead of a table uses the "
        "system's trust anchors. The listener needs cert_file and key_file.",
        "[amqp.tls]",
        lead='[amqp]\nurl = "amqps://linegate@broker.local/"',
    ),
    Section("[mqtt]", (MqttConfig,), "The MQTT mirror of the event stream."),
    Section(
        "[listener]",
        (ListenerConfig,),
        "The CFX request listener (AMQP 1.0) that hosts one handle per machine.",
    ),
    Section("[http]", (HttpConfig,), "The HTTP API and dashboard."),
    Section("[changeover]", (ChangeoverConfig,), "How line changeovers run (docs/changeover.md)."),
    Section(
        "[limits.http], [limits.listener], [limits.hermes]",
        (PeerLimitsConfig,),
        "What a server tolerates from its peers (docs/security.md); each key left out keeps "
        "the server's default.",
        "[limits.listener]",
    ),
)


def documented(cls: type[Any]) -> Iterator[dataclasses.Field[Any]]:
    """The fields of ``cls`` that are keys of the file (those with a ``doc``)."""
    return (f for f in dataclasses.fields(cls) if "help" in f.metadata)


def _type_name(f: dataclasses.Field[Any]) -> str:
    text = str(f.type).removesuffix(" | None")
    if text in _ENUMS:
        return " \\| ".join(f'`"{member.value}"`' for member in _ENUMS[text])
    return _TYPES.get(text, text)


def _literal(value: Any) -> str:
    if isinstance(value, enum.Enum):
        value = value.value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return json.dumps(list(value))
    return json.dumps(value)


def _default(f: dataclasses.Field[Any]) -> str | None:
    """The default as TOML, "" for "not set", None when the key is required."""
    if f.metadata.get("default") is not None:
        return str(f.metadata["default"])
    if f.default is dataclasses.MISSING:
        return None
    return "" if f.default is None else _literal(f.default)


def _rows(f: dataclasses.Field[Any]) -> Iterator[tuple[str, str, str, str, str]]:
    """(key, type, default, description, example value) of a field; two for a secret."""
    key = f.metadata.get("key") or f.name
    default = _default(f)
    shown = "required" if default is None else (f"`{default}`" if default else "not set")
    example = f.metadata.get("example") or default or ""
    help_text = str(f.metadata["help"])
    if str(f.type).startswith("Secret"):
        yield (
            f"{key}_env",
            "string",
            shown,
            f"{help_text} Read from this environment variable.",
            str(example),
        )
        yield f"{key}_file", "string", shown, "Or read from this file (its first line).", ""
        return
    yield key, _type_name(f), shown, help_text, str(example)


def render() -> str:
    """The text of docs/configuration.md."""
    out = [
        "# Configuration reference",
        "",
        "<!-- Generated by `python -m gateway.config_reference --write` from the typed config",
        "     (gateway/config_model.py, gateway/config_connections.py, gateway/files_config.py).",
        "     Do not edit by hand: change the field's doc() and regenerate. -->",
        "",
        "`linegate run CONFIG` reads one TOML file describing the line. `linegate check CONFIG` "
        "reads it the same way and lists every problem (file, key path, problem); what `check` "
        "accepts, `run` runs. Every table and key is below, with its type, default and an example.",
        "",
        "- Unknown keys are errors, so a misspelt key never goes unnoticed.",
        "- File paths (maps, TLS files, certificates, folders) are relative to the config file.",
        "- Secrets are never written in the file: `password`, `token` and `key_password` are read "
        "from an environment variable (`*_env`) or the first line of a file (`*_file`); "
        "`linegate check` resolves each (`--skip-secrets` on a machine without them).",
        "- Maps (`map = ...`) have their own format: see `adapters/maps/` for the built-in ones.",
        "",
    ]
    for section in SECTIONS:
        intro = " ".join(section.intro.replace("``", "`").split())
        out += [f"## `{section.heading}`", "", intro, ""]
        out += ["| key | type | default | description |", "|---|---|---|---|"]
        example = [*section.lead.splitlines(), section.example_heading or section.heading]
        example += section.body.splitlines()
        for cls in section.tables:
            for f in documented(cls):
                for key, kind, default, help_text, value in _rows(f):
                    out.append(f"| `{key}` | {kind} | {default} | {help_text} |")
                    if value and f.metadata.get("in_example", True) and not section.body:
                        example.append(f"{key} = {value}")
        out += ["", "```toml", *example, "```", ""]
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    """Print the reference, or ``--write`` it to docs/configuration.md."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--write", action="store_true", help=f"write {DOC_PATH}")
    args = parser.parse_args(argv)
    if args.write:
        DOC_PATH.write_text(render(), encoding="utf-8")
    else:
        print(render(), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
