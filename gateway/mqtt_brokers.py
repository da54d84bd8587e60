"""``[mqtt] urls``: the MQTT brokers a gateway may publish to, as ``mqtt://host[:port]`` URLs.

Checked here so that ``linegate check`` and ``linegate run`` refuse the same lists: every URL is
``mqtt://`` (plain) or ``mqtts://`` (TLS), all of one scheme (TLS to some brokers only would send
the password in the clear to the others), with a host, no credentials (``username`` and the
password keys of ``[mqtt]`` serve every broker), no path, and no broker twice.
"""

from __future__ import annotations

from urllib.parse import urlsplit

#: The MQTT ports by IANA's assignment (MQTT 5.0 §4.2), plain and over TLS.
DEFAULT_PORTS = {"mqtt": 1883, "mqtts": 8883}


class BrokerListError(ValueError):
    """One entry of the list is wrong: ``index`` (None: the list itself) and the problem."""

    def __init__(self, index: int | None, problem: str) -> None:
        super().__init__(problem)
        self.index = index
        self.problem = problem


def parse_mqtt_urls(value: object) -> tuple[tuple[str, int], ...]:
    """The (host, port) of every broker, in the configured order.

    Raises:
        BrokerListError: naming the entry and what is wrong with it.
    """
    if not isinstance(value, list) or not value:
        raise BrokerListError(None, "must be a non-empty list of broker URLs (mqtt://host:port)")
    brokers: list[tuple[str, int]] = []
    scheme = None
    for index, item in enumerate(value):
        if not isinstance(item, str) or not item:
            raise BrokerListError(index, f"must be a non-empty string, not {item!r}")
        try:
            parts = urlsplit(item)
            port = parts.port
        except ValueError as exc:
            raise BrokerListError(index, f"is not a valid URL ({exc}): {item!r}") from None
        if parts.scheme not in DEFAULT_PORTS:
            raise BrokerListError(index, f"must start with mqtt:// or mqtts://, not {item!r}")
        if not parts.hostname:
            raise BrokerListError(index, f"names no host: {item!r}")
        if parts.username is not None or parts.password is not None:
            raise BrokerListError(
                index, "must not contain credentials; use mqtt.username and mqtt.password_env/_file"
            )
        if parts.path not in ("", "/") or parts.query or parts.fragment:
            raise BrokerListError(index, f"must be mqtt://host[:port] only, not {item!r}")
        if scheme is not None and parts.scheme != scheme:
            raise BrokerListError(index, f"every broker must use the same scheme ({scheme}://): {item!r}")
        scheme = parts.scheme
        broker = (parts.hostname.lower(), port or DEFAULT_PORTS[parts.scheme])
        if broker in brokers:
            raise BrokerListError(index, f"{item!r} is the same broker as mqtt.urls[{brokers.index(broker)}]")
        brokers.append(broker)
    return tuple(brokers)


def uses_tls(value: list[str]) -> bool:
    """Whether a list ``parse_mqtt_urls`` accepted names TLS brokers."""
    return value[0].startswith("mqtts://")
