"""The one exception tree: every class it draws exists where it says, and one "closed" error."""

from __future__ import annotations

import re

import pytest

from protocols import errors
from protocols.cfx.transport import PublisherClosed
from protocols.errors import ConnectionClosed, TransportError
from protocols.hermes.transport import HermesConnectionClosed, LaneDisconnected
from protocols.hermes.transport.stream import HermesPeerTooSlow


def test_the_docstring_draws_every_class_of_the_module() -> None:
    assert errors.__doc__ is not None
    drawn = set(re.findall(r"[├└]── (\w+)", errors.__doc__)) | {"LinegateError"}
    defined = {name for name in errors.__all__ if isinstance(getattr(errors, name), type)}
    assert drawn == defined


def test_the_hermes_closed_errors_are_the_one_closed_error() -> None:
    assert HermesConnectionClosed is ConnectionClosed
    assert LaneDisconnected is ConnectionClosed
    assert issubclass(ConnectionClosed, TransportError)


@pytest.mark.parametrize("special", [HermesPeerTooSlow, PublisherClosed])
def test_a_more_specific_closed_error_is_caught_as_the_one(special: type[Exception]) -> None:
    with pytest.raises(ConnectionClosed):
        raise special("closed")
