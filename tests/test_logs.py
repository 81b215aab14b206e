"""Structured logs on stderr with PII redacted from everything a record carries."""
from __future__ import annotations

import json
import logging

import pytest

from kefu.logs import setup_logging

PHONE, EMAIL, CARD = "13800138000", "zhang.wei@example.com", "4111 1111 1111 1111"


def records(err: str) -> list[dict]:
    return [json.loads(line) for line in err.splitlines() if line.strip()]


def test_json_lines_with_fields(capsys):
    setup_logging("INFO", "json")
    log = logging.getLogger("kefu.test")
    log.info("ingested", extra={"fields": {"path": "kb/faq.csv", "chunks": 6}})
    log.debug("not shown at INFO")
    [entry] = records(capsys.readouterr().err)
    assert entry["level"] == "info" and entry["logger"] == "kefu.test" and entry["message"] == "ingested"
    assert entry["path"] == "kb/faq.csv" and entry["chunks"] == 6
    assert entry["time"].endswith("+00:00")


def test_message_and_arguments_are_redacted(capsys):
    setup_logging("INFO", "json")
    logging.getLogger("kefu.test").warning("customer %s asked: call me on %s", EMAIL, PHONE)
    [entry] = records(capsys.readouterr().err)
    assert entry["message"] == "customer [EMAIL] asked: call me on [PHONE]"


def test_text_format_is_redacted(capsys):
    setup_logging("WARNING", "text")
    logging.getLogger("kefu.test").warning("card %s", CARD)
    err = capsys.readouterr().err
    assert "WARNING kefu.test: card [BANK_CARD]" in err and CARD not in err


def test_structured_fields_are_redacted(capsys):
    setup_logging("INFO", "json")
    logging.getLogger("kefu.test").info("question received",
                                        extra={"fields": {"question": f"my phone is {PHONE}", "n": 1}})
    err = capsys.readouterr().err
    assert PHONE not in err
    assert records(err)[0]["question"] == "my phone is [PHONE]"


def test_exception_text_is_redacted(capsys):
    setup_logging("INFO", "json")
    try:
        raise ValueError(f"could not answer {EMAIL}")
    except ValueError:
        logging.getLogger("kefu.test").exception("answer failed")
    err = capsys.readouterr().err
    assert EMAIL not in err
    assert "[EMAIL]" in records(err)[0]["exception"]


def test_setup_is_idempotent_and_does_not_propagate(capsys):
    setup_logging("INFO", "json")
    setup_logging("INFO", "json")
    logger = logging.getLogger("kefu")
    assert len(logger.handlers) == 1 and logger.propagate is False
    logging.getLogger("kefu.x").info("once")
    assert len(records(capsys.readouterr().err)) == 1


@pytest.mark.parametrize("level", ["DEBUG", "INFO", "WARNING", "ERROR"])
def test_levels(capsys, level):
    setup_logging(level, "json")
    log = logging.getLogger("kefu.test")
    for name in ("debug", "info", "warning", "error"):
        getattr(log, name)(name)
    shown = [r["level"] for r in records(capsys.readouterr().err)]
    order = ["debug", "info", "warning", "error"]
    assert shown == order[order.index(level.lower()):]
