"""PII redaction on real customer questions: the Bitext sample in ../shared/data (skipped if absent)."""
from __future__ import annotations

import csv

import pytest

from kefu.nlp.pii import redact
from tests.helpers import SHARED_DATA

BITEXT = SHARED_DATA / "faq" / "bitext_customer_support.csv"


@pytest.fixture(scope="module")
def rows() -> list[dict[str, str]]:
    if not BITEXT.exists():
        pytest.skip(f"{BITEXT} not found: the shared data sets live in ../shared/data next to the checkout")
    with BITEXT.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def test_order_and_invoice_numbers_survive_redaction(rows):
    """Order and invoice ids are what an agent needs; at most 5 % may be mistaken for PII."""
    ids = [r for r in rows if r["entity_type"] in ("order_id", "invoice_id") and r["entity_value"]]
    assert len(ids) > 100
    lost = [r["instruction"] for r in ids if r["entity_value"] not in redact(r["instruction"])[0]]
    assert len(lost) / len(ids) <= 0.05, f"{len(lost)} of {len(ids)} ids redacted, e.g. {lost[:5]}"


def test_questions_without_entities_are_untouched(rows):
    plain = [r["instruction"] for r in rows if not r["entity_type"]][:500]
    changed = [q for q in plain if redact(q)[0] != q]
    assert not changed, changed[:5]
