"""complete.json_document: which unframed JSON bodies prove their own end."""

from __future__ import annotations

import pytest
import requests

from cave_widgets.client import complete
from cave_widgets.client.errors import IncompleteResponseError


def unframed(body: bytes, status: int = 200) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = body
    response.url = "https://example.test/x?middle_auth_token=secret"
    return response


@pytest.mark.parametrize("body", [b'{"a": [1, 2]}', b"[1, 2]", b'"0.4.0"', b'  "a\\"b" '])
def test_objects_arrays_and_strings_that_parse_are_whole(body):
    complete.json_document(unframed(body))


@pytest.mark.parametrize("body", [b'{"a": [1, 2]', b"[1, 2", b'"0.4.', b'"a\\"', b"12", b"true"])
def test_cut_bodies_and_bare_scalars_are_refused_without_the_query(body):
    with pytest.raises(IncompleteResponseError) as caught:
        complete.json_document(unframed(body))
    assert "secret" not in str(caught.value)


def test_a_length_proves_any_body():
    response = unframed(b"12")
    response.headers["Content-Length"] = "2"
    complete.json_document(response)
