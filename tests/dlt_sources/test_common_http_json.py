"""``parse_json_once``: a page's body parsed once, the same object after, and freed with its response."""

from __future__ import annotations

import gc
import json
import weakref

import pytest
import requests
from requests import Response

from dlt_sources.common.http import parse_json_once


def _response(body: bytes) -> Response:
    response = Response()
    response.status_code = 200
    response._content = body
    response.headers["Content-Type"] = "application/json"
    return response


def test_parsed_once_and_the_same_object_after() -> None:
    response = parse_json_once(_response(json.dumps({"orders": [{"id": "A", "total": 125}], "cursor": "c"}).encode()))
    first = response.json()
    assert first == {"orders": [{"id": "A", "total": 125}], "cursor": "c"}
    assert response.json() is first
    assert response.json(parse_float=str) == first  # arguments: requests' own parse, a new object
    assert response.json(parse_float=str) is not first


def test_a_body_that_is_not_json_raises_requests_error() -> None:
    response = parse_json_once(_response(b"<html>busy</html>"))
    with pytest.raises(requests.exceptions.JSONDecodeError):
        response.json()


def test_a_parsed_page_is_freed_with_its_response_without_waiting_for_the_garbage_collector() -> None:
    # a historical import parses hundreds of pages: a reference cycle between a response and its
    # cached parse kept them all alive until Python's next full collection (~200 MiB at chain x 14)
    gc.disable()
    try:
        response = parse_json_once(_response(json.dumps({"orders": [{"id": str(i)} for i in range(100)]}).encode()))
        assert len(response.json()["orders"]) == 100
        gone = weakref.ref(response)
        del response
        assert gone() is None
    finally:
        gc.enable()
