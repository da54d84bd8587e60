"""The OPC UA simulators' method argument check, without a server (the solder tests use one)."""

from __future__ import annotations

from asyncua import ua

from simulators.opcua_server import argument_results

STRING, INT32 = ua.NodeId(12), ua.NodeId(6)  # i=12 String, i=6 Int32 (OPC 10000-6 §5.1.2)
NAME = ua.Argument(Name="Name", DataType=STRING, ValueRank=-1)
COUNTS = ua.Argument(Name="Counts", DataType=INT32, ValueRank=1)


def codes(result: ua.CallMethodResult | None) -> tuple[int, list[int]] | None:
    if result is None:
        return None
    return result.StatusCode.value, [code.value for code in result.InputArgumentResults]


def test_matching_scalar_and_array_pass() -> None:
    """A scalar String for a ValueRank -1 String and an Int32 array for a ValueRank 1 Int32 pass."""
    given = [ua.Variant("A", ua.VariantType.String), ua.Variant([1, 2], ua.VariantType.Int32)]
    assert argument_results([NAME, COUNTS], given) is None


def test_each_wrong_argument_is_named() -> None:
    """Only the arguments of the wrong type or rank carry Bad_TypeMismatch; the others are Good."""
    given = [ua.Variant("A", ua.VariantType.String), ua.Variant(1, ua.VariantType.Int32)]
    assert codes(argument_results([NAME, COUNTS], given)) == (
        ua.StatusCodes.BadInvalidArgument,
        [ua.StatusCodes.Good, ua.StatusCodes.BadTypeMismatch],
    )


def test_count_is_checked_before_types() -> None:
    """Too few or too many arguments answer at operation level, with no per-argument results."""
    wrong = ua.Variant(1.5, ua.VariantType.Double)
    assert codes(argument_results([NAME, COUNTS], [wrong])) == (ua.StatusCodes.BadArgumentsMissing, [])
    assert codes(argument_results([NAME], [wrong, wrong])) == (ua.StatusCodes.BadTooManyArguments, [])


def test_a_structured_argument_is_left_to_the_method() -> None:
    """A declared type outside the built-in ones is not judged by the check."""
    custom = ua.Argument(Name="Custom", DataType=ua.NodeId(5001, 2), ValueRank=-1)
    assert argument_results([custom], [ua.Variant("anything", ua.VariantType.String)]) is None
