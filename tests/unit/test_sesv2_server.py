"""The fake SESv2 server (tests/support/sesv2_server.py) speaks botocore's own model of the API.

Every method, URI, field, query name and error the fake reads or returns is checked against
`botocore`'s service model, so the fake cannot drift from what aiobotocore sends and parses.
"""

from __future__ import annotations

import botocore.session
import pytest

from tests.support import sesv2_server as fake

MODEL = botocore.session.get_session().get_service_model("sesv2")


def _members(shape_name: str) -> dict[str, object]:
    return dict(MODEL.shape_for(shape_name).members)


def test_the_model_is_rest_json() -> None:
    assert MODEL.metadata["protocol"] == "rest-json"


@pytest.mark.parametrize(("operation", "method", "uri"), fake.OPERATIONS)
def test_each_operation_has_the_method_and_uri_of_the_model(operation: str, method: str, uri: str) -> None:
    http = MODEL.operation_model(operation).http
    assert (http["method"], http["requestUri"]) == (method, uri)


def test_the_address_in_the_uri_is_the_email_address_member() -> None:
    for operation in ("DeleteSuppressedDestination", "GetSuppressedDestination"):
        member = MODEL.operation_model(operation).input_shape.members["EmailAddress"]
        assert member.serialization == {"location": "uri", "name": "EmailAddress"}


def test_put_reads_body_fields_the_model_has() -> None:
    members = MODEL.operation_model("PutSuppressedDestination").input_shape.members
    for name in fake.PUT_BODY_FIELDS:
        assert name in members
        assert "location" not in members[name].serialization  # in the JSON body
    assert set(fake.REASONS) == set(MODEL.shape_for("SuppressionListReason").enum)


def test_list_reads_query_names_and_returns_fields_the_model_has() -> None:
    operation = MODEL.operation_model("ListSuppressedDestinations")
    members = operation.input_shape.members
    for member, query in fake.LIST_QUERY_FIELDS.items():
        assert members[member].serialization == {"location": "querystring", "name": query}
    assert set(fake.LIST_OUTPUT_FIELDS) <= set(operation.output_shape.members)
    summaries = operation.output_shape.members["SuppressedDestinationSummaries"]
    assert set(fake.SUMMARY_FIELDS) <= set(summaries.member.members)
    assert operation.output_shape.members["NextToken"].type_name == "string"


def test_get_returns_fields_the_model_has() -> None:
    output = MODEL.operation_model("GetSuppressedDestination").output_shape
    assert set(fake.GET_OUTPUT_FIELDS) <= set(output.members)
    assert set(fake.SUMMARY_FIELDS) <= set(output.members["SuppressedDestination"].members)


def test_errors_have_the_status_codes_of_the_model() -> None:
    for name, status in fake.ERRORS.items():
        assert MODEL.shape_for(name).metadata["error"]["httpStatusCode"] == status
    errors = {op: {e.name for e in MODEL.operation_model(op).error_shapes} for op, _, _ in fake.OPERATIONS}
    assert all("TooManyRequestsException" in names for names in errors.values())
    assert "NotFoundException" in errors["DeleteSuppressedDestination"]
