"""The selective solder machine answers as an OPC UA server must, not as a library defaults to.

The status codes come from OPC 10000-4 (Call: Table 67 operation level, Table 68 per input
argument; Write: Bad_NotWritable vs Bad_UserAccessDenied; ActivateSession: a token type the
endpoint does not offer is rejected) and the machine's manual (``selective_solder.md``). Calls
and writes go out as raw service requests over asyncua's session, so every status code the
server sends is seen as sent, per operation and per argument.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from asyncua import ua
from asyncua.client.client import Client
from asyncua.ua.uaerrors import BadIdentityTokenRejected, BadUserAccessDenied

from simulators import SteppedClock
from simulators.selective_solder import SelectiveSolder

NAMESPACE = "urn:linegate:simulators:selective-solder"  # typed in from the manual
Bad = ua.StatusCodes


@pytest.fixture
async def machine() -> AsyncIterator[SelectiveSolder]:
    async with SelectiveSolder(clock=SteppedClock()) as simulator:
        yield simulator


@pytest.fixture
async def client(machine: SelectiveSolder) -> AsyncIterator[Client]:
    assert machine.url is not None
    async with Client(machine.url, timeout=2) as connected:  # anonymous, as the manual says
        yield connected


async def node_id(client: Client, path: str) -> ua.NodeId:
    idx = await client.get_namespace_index(NAMESPACE)
    return ua.NodeId.from_string(f"ns={idx};s=SelectiveSolder{'.' if path else ''}{path}")


async def call(client: Client, method: str, *arguments: ua.Variant) -> ua.CallMethodResult:
    """One Call service request; the result as the server sent it."""
    request = ua.CallMethodRequest(
        ObjectId=await node_id(client, ""),
        MethodId=await node_id(client, method),
        InputArguments=list(arguments),
    )
    [result] = await client.uaclient.call([request])
    return result


def text(value: str) -> ua.Variant:
    return ua.Variant(value, ua.VariantType.String)


async def test_method_with_missing_argument_is_bad_arguments_missing(client: Client) -> None:
    """LoadProgram without its ProgramName: Bad_ArgumentsMissing, and no program change."""
    result = await call(client, "LoadProgram")
    assert result.StatusCode.value == Bad.BadArgumentsMissing
    assert result.OutputArguments == []


@pytest.mark.parametrize(
    ("method", "arguments"),
    [
        ("LoadProgram", [text("PGM-PWR-B"), text("extra")]),
        ("GetPrograms", [text("extra")]),
    ],
)
async def test_method_with_extra_argument_is_bad_too_many_arguments(
    client: Client, machine: SelectiveSolder, method: str, arguments: list[ua.Variant]
) -> None:
    """One argument more than the method defines: Bad_TooManyArguments, and nothing is done."""
    result = await call(client, method, *arguments)
    assert result.StatusCode.value == Bad.BadTooManyArguments
    assert result.OutputArguments == []
    assert machine.recipes.active is not None and machine.recipes.active.name == "PGM-CONN-A"


@pytest.mark.parametrize(
    "argument",
    [
        ua.Variant(2, ua.VariantType.Int32),
        ua.Variant(b"PGM-PWR-B", ua.VariantType.ByteString),
        ua.Variant(["PGM-PWR-B"], ua.VariantType.String),  # an array where a scalar is defined
    ],
)
async def test_method_with_wrong_argument_type_is_bad_type_mismatch(
    client: Client, argument: ua.Variant
) -> None:
    """ProgramName not a scalar String: Bad_TypeMismatch for that argument (Table 68) under the
    operation result Bad_InvalidArgument (Table 67), not Bad_UnexpectedError."""
    result = await call(client, "LoadProgram", argument)
    assert result.StatusCode.value == Bad.BadInvalidArgument
    assert [code.value for code in result.InputArgumentResults] == [Bad.BadTypeMismatch]


async def test_well_formed_call_still_answers(client: Client) -> None:
    """The checks let a correct call through: GetPrograms lists, LoadProgram answers its revision."""
    listed = await call(client, "GetPrograms")
    assert listed.StatusCode.is_good()
    assert listed.OutputArguments[0].Value == ["PGM-CONN-A", "PGM-PWR-B"]
    loaded = await call(client, "LoadProgram", text("PGM-PWR-B"))
    assert loaded.StatusCode.is_good()
    assert [code.value for code in loaded.InputArgumentResults] == [Bad.Good]
    unknown = await call(client, "LoadProgram", text("PGM-NONE"))
    assert unknown.StatusCode.value == Bad.BadNotFound


@pytest.mark.parametrize("path", ["State", "ActiveProgram", "ProcessValues.SolderPotTemperature"])
async def test_write_to_read_only_variable_is_bad_not_writable(client: Client, path: str) -> None:
    """Manual §2: every variable is read only; a Value write answers Bad_NotWritable and changes nothing."""
    target = await node_id(client, path)
    before = await client.get_node(target).read_data_value()
    assert before.Value is not None
    write = ua.WriteValue(
        NodeId=target, AttributeId=ua.AttributeIds.Value, Value=ua.DataValue(Value=before.Value)
    )
    [status] = await client.uaclient.write(ua.WriteParameters(NodesToWrite=[write]))
    assert status.value == Bad.BadNotWritable
    assert (await client.get_node(target).read_value()) == before.Value.Value


async def test_write_to_a_non_value_attribute_is_bad_not_writable(client: Client) -> None:
    """A node's WriteMask allows no attribute writes: DisplayName gets Bad_NotWritable too."""
    write = ua.WriteValue(
        NodeId=await node_id(client, "State"),
        AttributeId=ua.AttributeIds.DisplayName,
        Value=ua.DataValue(Value=ua.Variant(ua.LocalizedText("x"), ua.VariantType.LocalizedText)),
    )
    [status] = await client.uaclient.write(ua.WriteParameters(NodesToWrite=[write]))
    assert status.value == Bad.BadNotWritable


async def test_write_to_an_unknown_node_is_bad_node_id_unknown(client: Client) -> None:
    """A write naming no node answers Bad_NodeIdUnknown, not an access error."""
    write = ua.WriteValue(
        NodeId=await node_id(client, "NoSuchNode"),
        AttributeId=ua.AttributeIds.Value,
        Value=ua.DataValue(Value=ua.Variant(1, ua.VariantType.Int32)),
    )
    [status] = await client.uaclient.write(ua.WriteParameters(NodesToWrite=[write]))
    assert status.value == Bad.BadNodeIdUnknown


async def test_user_name_session_is_refused_anonymous_is_not(machine: SelectiveSolder) -> None:
    """Manual §1: identity anonymous. A user name token is rejected at ActivateSession; the
    endpoints offer only the anonymous token; an anonymous session still works."""
    assert machine.url is not None
    named = Client(machine.url, timeout=2)
    named.set_user("operator")
    named.set_password("anything")
    with pytest.raises(BadIdentityTokenRejected):
        await named.connect()
    await named.disconnect()
    async with Client(machine.url, timeout=2) as anonymous:
        endpoints = await anonymous.get_endpoints()
        offered = {policy.TokenType for endpoint in endpoints for policy in endpoint.UserIdentityTokens}
        assert offered == {ua.UserTokenType.Anonymous}
        assert await anonymous.get_node(await node_id(anonymous, "State")).read_value() == "Setup"


async def test_configured_users_are_checked() -> None:
    """With ``users`` given (a test hook), a listed user name and password open a session and a
    wrong password is Bad_UserAccessDenied; anonymous still works."""
    async with SelectiveSolder(clock=SteppedClock(), users={"operator": "s3cret"}) as with_users:
        assert with_users.url is not None
        right = Client(with_users.url, timeout=2)
        right.set_user("operator")
        right.set_password("s3cret")
        async with right:
            assert await right.get_node(await node_id(right, "State")).read_value() == "Setup"
        wrong = Client(with_users.url, timeout=2)
        wrong.set_user("operator")
        wrong.set_password("guess")
        with pytest.raises(BadUserAccessDenied):
            await wrong.connect()
        await wrong.disconnect()
        async with Client(with_users.url, timeout=2) as anonymous:
            assert await anonymous.get_node(await node_id(anonymous, "State")).read_value() == "Setup"
