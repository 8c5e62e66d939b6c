"""The fake SESv2 server (tests/support/sesv2_server.py) speaks botocore's own model of the API.

Every method, URI, field, query name and error the fake reads or returns is checked against
`botocore`'s service model, so the fake cannot drift from what aiobotocore sends and parses.
"""

from __future__ import annotations

from collections.abc import Mapping

import botocore.session
import pytest
from botocore.model import ListShape, Shape, StringShape, StructureShape

from tests.support import sesv2_server as fake

MODEL = botocore.session.get_session().get_service_model("sesv2")


def members(shape: Shape | None) -> Mapping[str, Shape]:
    """A structure's members (failing the test when `shape` is not a structure)."""
    assert isinstance(shape, StructureShape), shape
    return shape.members


def input_members(operation: str) -> Mapping[str, Shape]:
    return members(MODEL.operation_model(operation).input_shape)


def output_members(operation: str) -> Mapping[str, Shape]:
    return members(MODEL.operation_model(operation).output_shape)


def test_the_model_is_rest_json() -> None:
    assert MODEL.metadata["protocol"] == "rest-json"


@pytest.mark.parametrize(("operation", "method", "uri"), fake.OPERATIONS)
def test_each_operation_has_the_method_and_uri_of_the_model(operation: str, method: str, uri: str) -> None:
    http = MODEL.operation_model(operation).http
    assert (http["method"], http["requestUri"]) == (method, uri)


def test_the_address_in_the_uri_is_the_email_address_member() -> None:
    for operation in ("DeleteSuppressedDestination", "GetSuppressedDestination"):
        member = input_members(operation)["EmailAddress"]
        assert member.serialization == {"location": "uri", "name": "EmailAddress"}


def test_put_reads_body_fields_the_model_has() -> None:
    put = input_members("PutSuppressedDestination")
    for name in fake.PUT_BODY_FIELDS:
        assert name in put
        assert "location" not in put[name].serialization  # in the JSON body
    reason = MODEL.shape_for("SuppressionListReason")
    assert isinstance(reason, StringShape)
    assert set(fake.REASONS) == set(reason.enum)


def test_list_reads_query_names_and_returns_fields_the_model_has() -> None:
    query = input_members("ListSuppressedDestinations")
    for member, name in fake.LIST_QUERY_FIELDS.items():
        assert query[member].serialization == {"location": "querystring", "name": name}
    output = output_members("ListSuppressedDestinations")
    assert set(fake.LIST_OUTPUT_FIELDS) <= set(output)
    summaries = output["SuppressedDestinationSummaries"]
    assert isinstance(summaries, ListShape)
    assert set(fake.SUMMARY_FIELDS) <= set(members(summaries.member))
    assert output["NextToken"].type_name == "string"


def test_get_returns_fields_the_model_has() -> None:
    output = output_members("GetSuppressedDestination")
    assert set(fake.GET_OUTPUT_FIELDS) <= set(output)
    assert set(fake.SUMMARY_FIELDS) <= set(members(output["SuppressedDestination"]))


def test_errors_have_the_status_codes_of_the_model() -> None:
    for name, status in fake.ERRORS.items():
        assert MODEL.shape_for(name).metadata["error"]["httpStatusCode"] == status
    errors = {op: {e.name for e in MODEL.operation_model(op).error_shapes} for op, _, _ in fake.OPERATIONS}
    assert all("TooManyRequestsException" in names for names in errors.values())
    assert "NotFoundException" in errors["DeleteSuppressedDestination"]
