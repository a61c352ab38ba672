"""How a Graph error answer reads (meta.graph, shared by the Messenger/Instagram and WhatsApp clients): the error
object whatever its shape, and the wait its headers ask for. What each error means is tested with each connector."""

import json

import pytest
import requests

from channels_integrations.providers.meta.graph import GraphError


def _response(status: int, headers: dict | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.headers.update(headers or {})
    return response


def test_an_error_object_reads_whole():
    body = {
        "error": {
            "message": "(#131047) Re-engagement message",
            "type": "OAuthException",
            "code": 131047,
            "error_subcode": "2494010",
            "error_data": {"messaging_product": "whatsapp", "details": "More than 24 hours have passed"},
            "error_user_msg": "Message failed to send",
            "is_transient": False,
            "fbtrace_id": "Az8or2yhqkZfEZ-_4Qn_Bam",
        }
    }
    error = GraphError.read(400, body)
    assert error.code == 131047 and error.subcode == 2494010 and error.status == 400
    assert error.message == "Message failed to send"  # what Meta words for people comes first
    assert error.details == "More than 24 hours have passed"
    assert error.transient is False and error.trace == "Az8or2yhqkZfEZ-_4Qn_Bam" and error.wait is None


@pytest.mark.parametrize(
    "body",
    [{}, {"data": []}, {"error": "broken"}, {"error": {"code": "not a number", "error_data": "text"}}, {"data": [1]}],
)
def test_an_answer_without_a_usable_error_object_reads_as_its_status(body):
    error = GraphError.read(502, body)
    assert (error.code, error.subcode, error.message, error.details, error.transient) == (
        0,
        None,
        "HTTP 502",
        "",
        False,
    )


def test_the_wait_is_retry_after_else_the_longest_usage_estimate_else_none():
    assert GraphError.read(429, {}, _response(429, {"Retry-After": "30"})).wait == 30.0
    usage = {"1234": [{"type": "messenger", "estimated_time_to_regain_access": 2}, {"type": "pages"}]}
    app = {"call_count": 100, "total_time": 25}  # X-App-Usage names no time: percentages only
    headers = {"X-Business-Use-Case-Usage": json.dumps(usage), "X-App-Usage": json.dumps(app)}
    assert GraphError.read(400, {}, _response(400, headers)).wait == 120.0
    page = {"X-Page-Usage": json.dumps({"9": [{"estimated_time_to_regain_access": 5}]})}
    assert GraphError.read(400, {}, _response(400, page)).wait == 300.0
    broken = {
        "X-Business-Use-Case-Usage": "{not json",
        "X-App-Usage": json.dumps({"1": ["x", {"estimated_time_to_regain_access": "?"}]}),
    }
    assert GraphError.read(400, {}, _response(400, broken)).wait is None
    assert GraphError.read(400, {}, _response(400)).wait is None
    assert GraphError.read(400, {}).wait is None  # no response at hand
