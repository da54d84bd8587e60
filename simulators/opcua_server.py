"""Where the OPC UA simulators correct asyncua's server defaults toward OPC 10000-4.

asyncua (1.1) answers, left to its defaults, what a conforming server does not:

- a method called with too few or too many input arguments raises a ``TypeError`` inside the
  server, which it reports as Bad_UnexpectedError; a wrong argument type reaches the method;
- a write by a client to a read-only variable is Bad_UserAccessDenied, as is a write to any
  other attribute and a write to a node that does not exist;
- every user name and password is accepted, whatever the endpoint offers.

Each piece below replaces one of these behaviours; the simulators keep using asyncua's server
for everything else. Status codes are cited from OPC 10000-4 (Services) v1.05.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any

from asyncua import ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.server.address_space import AttributeService
from asyncua.server.server import Server
from asyncua.server.user_managers import UserManager
from asyncua.ua.attribute_ids import AttributeIds
from asyncua.ua.status_codes import StatusCodes

Method = Callable[..., Awaitable[Any]]


def _status(code: int) -> ua.StatusCode:
    return ua.StatusCode(ua.UInt32(code))


# The built-in data types of namespace 0 have the node ids i=1 (Boolean) to i=25
# (DiagnosticInfo), the numbers of their VariantType (OPC 10000-6 §5.1.2).
_BUILT_IN_TYPES = range(1, 26)


def argument_results(
    arguments: Sequence[ua.Argument], given: Sequence[ua.Variant]
) -> ua.CallMethodResult | None:
    """Check a call's input arguments against the method's InputArguments property.

    Args:
        arguments: the method's declared input arguments.
        given: the input arguments of the call.

    Returns:
        None when the call may run, else its result: Bad_ArgumentsMissing or
        Bad_TooManyArguments (§5.12.2.4 Table 67), or Bad_InvalidArgument with Bad_TypeMismatch
        for each argument that is not of the declared type and rank (Table 68).
    """
    if len(given) < len(arguments):
        return ua.CallMethodResult(StatusCode=_status(StatusCodes.BadArgumentsMissing))
    if len(given) > len(arguments):
        return ua.CallMethodResult(StatusCode=_status(StatusCodes.BadTooManyArguments))
    results = [
        ua.StatusCode() if _fits(argument, value) else _status(StatusCodes.BadTypeMismatch)
        for argument, value in zip(arguments, given, strict=True)
    ]
    if all(result.is_good() for result in results):
        return None
    return ua.CallMethodResult(
        StatusCode=_status(StatusCodes.BadInvalidArgument), InputArgumentResults=results
    )


def _fits(argument: ua.Argument, value: ua.Variant) -> bool:
    data_type = argument.DataType
    if data_type.NamespaceIndex != 0 or data_type.Identifier not in _BUILT_IN_TYPES:
        return True  # a structure or a subtype: not ours to judge here; the method checks it
    scalar = argument.ValueRank == -1
    return value.VariantType == ua.VariantType(data_type.Identifier) and value.is_array != scalar


def checked(method: Method, arguments: Sequence[ua.Argument]) -> Method:
    """``method`` (an asyncua method callback) behind the input argument check.

    Args:
        method: ``async def method(parent, *arguments)``.
        arguments: the input arguments the method node declares.

    Returns:
        An asyncua method callback that answers a call whose arguments do not fit with the
        result of :func:`argument_results`, and runs ``method`` otherwise.
    """

    async def call(parent: ua.NodeId, *given: ua.Variant) -> Any:
        refused = argument_results(arguments, given)
        return refused if refused is not None else await method(parent, *given)

    return call


_SERVER = User(role=UserRole.Admin)  # asyncua's default: a write without a session is the server's


class StrictAttributeService(AttributeService):
    """asyncua's Write service, answering a client's refused write with the code §5.11.4 gives.

    Writes by the server itself (asyncua's admin user: the simulator publishing its values)
    pass unchanged.
    """

    async def write(self, params: ua.WriteParameters, user: User = _SERVER) -> list[ua.StatusCode]:
        if user.role == UserRole.Admin:
            return list(await super().write(params, user))
        refusals = [self._refusal(item) for item in params.NodesToWrite]
        allowed = [
            item for item, refused in zip(params.NodesToWrite, refusals, strict=True) if refused is None
        ]
        done = iter(await super().write(ua.WriteParameters(NodesToWrite=allowed), user) if allowed else [])
        return [refused if refused is not None else next(done) for refused in refusals]

    def _refusal(self, item: ua.WriteValue) -> ua.StatusCode | None:
        if item.NodeId not in self._aspace:
            return _status(StatusCodes.BadNodeIdUnknown)
        if item.AttributeId == AttributeIds.Value:
            mask = ua.AccessLevel.CurrentWrite.mask
            allowed, user_allowed = AttributeIds.AccessLevel, AttributeIds.UserAccessLevel
        else:
            try:
                mask = int(ua.AttributeWriteMask[AttributeIds(item.AttributeId).name])
            except (KeyError, ValueError):
                return _status(StatusCodes.BadAttributeIdInvalid)
            allowed, user_allowed = AttributeIds.WriteMask, AttributeIds.UserWriteMask
        # Bad_NotWritable: "the access level does not allow writing to the Node";
        # Bad_UserAccessDenied only where the node is writable, but not by this user.
        if not self._has(item.NodeId, allowed, mask):
            return _status(StatusCodes.BadNotWritable)
        if not self._has(item.NodeId, user_allowed, mask):
            return _status(StatusCodes.BadUserAccessDenied)
        return None

    def _has(self, node: ua.NodeId, attribute: AttributeIds, mask: int) -> bool:
        # Whether the node's access level or write mask ``attribute`` has the bits of ``mask``.
        value = self._aspace.read_attribute_value(node, attribute)
        if value.StatusCode is not None and not value.StatusCode.is_good():
            return False
        bits = None if value.Value is None else value.Value.Value
        return bits is not None and int(bits) & mask == mask


class Identities(UserManager):
    """Who may open a session: anonymous always; user names and X.509 identities only if asked.

    An asyncua user manager. asyncua itself rejects a token type the endpoints do not offer
    (:meth:`token_types`) with Bad_IdentityTokenRejected before asking :meth:`get_user`; a
    None from it becomes Bad_UserAccessDenied.

    Args:
        passwords: user name → password of the user name tokens to accept.
        certificate_tokens: accept X.509 identity tokens. asyncua checks the client's proof
            of possession of the certificate; which certificate it is is not checked, since
            asyncua hands an anonymous session's application certificate to the same place.
    """

    def __init__(self, passwords: Mapping[str, str] | None = None, certificate_tokens: bool = False) -> None:
        self.passwords = dict(passwords or {})
        self.certificate_tokens = certificate_tokens

    def token_types(self) -> list[type]:
        """The identity token types the endpoints offer."""
        types: list[type] = [ua.AnonymousIdentityToken]
        if self.passwords:
            types.append(ua.UserNameIdentityToken)
        if self.certificate_tokens:
            types.append(ua.X509IdentityToken)
        return types

    def get_user(
        self,
        iserver: Any,
        username: str | None = None,
        password: str | None = None,
        certificate: Any = None,
    ) -> User | None:
        """The session's user, or None to refuse it (asyncua's UserManager interface)."""
        if username is not None and self.passwords.get(username) != password:
            return None
        return User(role=UserRole.User)


def make_strict(server: Server, identities: Identities) -> None:
    """Put the strict Write service and the identity check into a server built but not started.

    Args:
        server: an asyncua server after ``init()``.
        identities: who may open a session.
    """
    server.iserver.attribute_service = StrictAttributeService(server.iserver.aspace)
    server.iserver.set_user_manager(identities)
    server.set_identity_tokens(identities.token_types())


__all__ = ["Identities", "StrictAttributeService", "argument_results", "checked", "make_strict"]
