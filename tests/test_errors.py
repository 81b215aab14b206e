"""The exception tree: one root, HTTP statuses, stable codes, JSON bodies."""
from __future__ import annotations

import json

import pytest

from kefu.errors import (
    BackendError,
    ConfigError,
    IngestError,
    InputError,
    KefuError,
    NotFoundError,
    StoreError,
)

ALL = [KefuError, ConfigError, InputError, IngestError, NotFoundError, BackendError, StoreError]


@pytest.mark.parametrize("cls, parent, status, code", [
    (ConfigError, KefuError, 500, "config_error"),
    (InputError, KefuError, 400, "invalid_input"),
    (IngestError, InputError, 422, "ingest_error"),
    (NotFoundError, KefuError, 404, "not_found"),
    (BackendError, KefuError, 503, "backend_error"),
    (StoreError, BackendError, 503, "store_error"),
])
def test_tree_status_and_code(cls, parent, status, code):
    assert issubclass(cls, parent) and issubclass(cls, Exception)
    assert (cls.status, cls.code) == (status, code)


def test_codes_are_unique():
    assert len({cls.code for cls in ALL}) == len(ALL)


@pytest.mark.parametrize("cls", ALL)
def test_message_hint_and_json_body(cls):
    exc = cls("the thing failed")
    assert str(exc) == "the thing failed"
    assert exc.message == "the thing failed"
    assert exc.to_dict() == {"error": {"code": cls.code, "message": "the thing failed"}}
    hinted = cls("bad value", hint="try another")
    assert str(hinted) == "bad value (try another)"
    body = hinted.to_dict()
    assert body == {"error": {"code": cls.code, "message": "bad value", "hint": "try another"}}
    assert json.loads(json.dumps(body)) == body


def test_ingest_error_names_file_and_line():
    exc = IngestError("invalid JSON", path="kb/faq.jsonl", line=12)
    assert str(exc) == "kb/faq.jsonl:12: invalid JSON"
    assert (exc.path, exc.line) == ("kb/faq.jsonl", 12)
    assert exc.to_dict()["error"]["message"] == "kb/faq.jsonl:12: invalid JSON"
    assert str(IngestError("empty", path="a.txt")) == "a.txt: empty"
    assert str(IngestError("empty")) == "empty"
    assert str(IngestError("x", path="a.csv", line=0)) == "a.csv:0: x"


def test_ingest_error_is_caught_as_input_error():
    with pytest.raises(InputError):
        raise IngestError("bad", path="f")
    with pytest.raises(KefuError):
        raise StoreError("disk full")
