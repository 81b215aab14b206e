"""Chunking that respects headings, lists, tables and sentence ends (zh + en)."""
from __future__ import annotations

import pytest

from kefu.ingest.chunk import chunk_text, parse_blocks


def test_parse_blocks_kinds():
    text = """# Returns

Intro paragraph line one
continues here.

- first item
- second item

1. numbered
2) also numbered

| col | val |
|-----|-----|
| a   | 1   |

（一） 中文列表项
## Refunds ##
Last paragraph."""
    blocks = parse_blocks(text)
    assert [(b.kind, b.level) for b in blocks] == [
        ("heading", 1), ("paragraph", 0), ("list", 0), ("list", 0), ("table", 0), ("list", 0),
        ("heading", 2), ("paragraph", 0)]
    assert blocks[0].text == "Returns"
    assert blocks[1].text == "Intro paragraph line one\ncontinues here."
    assert blocks[2].text == "- first item\n- second item"  # a blank line ends a list
    assert blocks[3].text == "1. numbered\n2) also numbered"
    assert blocks[4].text == "| col | val |\n| a   | 1   |"  # the |---| rule is dropped
    assert blocks[6].text == "Refunds"


def test_chinese_list_markers_need_no_space():
    """Chinese lists are written ``1、…`` / ``（一）…`` / ``一、…`` with no space after the marker."""
    text = ("退货条件：\n\n1、商品完好\n2、配件齐全\n\n"
            "（一）七天无理由\n（二）十五天换货\n\n一、总则\n二、细则")
    blocks = parse_blocks(text)
    assert [b.kind for b in blocks] == ["paragraph", "list", "list", "list"]


def test_chunks_follow_headings():
    text = "# Returns\n\nYou have 30 days.\n\n## Refunds\n\nRefunds take 5 days.\n\n# Shipping\n\nShips fast."
    chunks = chunk_text(text, 600)
    assert [(c.heading, c.text) for c in chunks] == [
        ("Returns", "You have 30 days."),
        ("Returns > Refunds", "Refunds take 5 days."),
        ("Shipping", "Ships fast."),
    ]
    assert [c.position for c in chunks] == [0, 1, 2]


def test_small_paragraphs_are_packed_together():
    text = "\n\n".join(f"Paragraph {i} is short." for i in range(10))
    chunks = chunk_text(text, 600)
    assert len(chunks) == 1
    assert chunks[0].text.count("Paragraph") == 10


@pytest.mark.parametrize("limit", [100, 200, 600])
def test_long_english_text_splits_at_sentence_ends(limit):
    sentences = [f"Sentence number {i} explains one rule of the returns policy." for i in range(60)]
    chunks = chunk_text(" ".join(sentences), limit)
    assert len(chunks) > 1
    for c in chunks:
        assert len(c.text) <= limit
        assert c.text.endswith(".")
        assert c.text.startswith("Sentence number")
    joined = " ".join(c.text for c in chunks)
    assert joined == " ".join(sentences)


def test_long_chinese_text_splits_at_chinese_punctuation():
    sentences = [f"第{i}条：签收后七天内可以申请无理由退货，商品需要保持完好。" for i in range(40)]
    text = "".join(sentences)
    chunks = chunk_text(text, 150)
    assert len(chunks) > 1
    for c in chunks:
        assert len(c.text) <= 150
        assert c.text.endswith("。")
        assert c.text.startswith("第")
    assert "".join(c.text for c in chunks) == text


def test_long_table_repeats_its_header():
    rows = "\n".join(f"| SKU-{i:03d} | Product number {i} | {i * 10} |" for i in range(40))
    text = "# Prices\n\n| sku | name | price |\n|---|---|---|\n" + rows
    chunks = chunk_text(text, 300)
    assert len(chunks) > 2
    for c in chunks:
        assert c.heading == "Prices"
        assert c.text.startswith("| sku | name | price |\n| SKU-")
        assert len(c.text) <= 300
    body = [line for c in chunks for line in c.text.splitlines()[1:]]
    assert body == rows.splitlines()


def test_long_list_splits_between_items():
    items = [f"- Item {i}: customers can return accessories bought separately." for i in range(30)]
    chunks = chunk_text("\n".join(items), 250)
    assert len(chunks) > 1
    lines = [line for c in chunks for line in c.text.splitlines()]
    assert lines == items


def test_text_without_any_break_is_hard_wrapped():
    text = "无" * 1500
    chunks = chunk_text(text, 200)
    assert all(len(c.text) <= 400 for c in chunks)
    assert "".join(c.text for c in chunks) == text


def test_heading_path_resets_at_same_level():
    text = "# A\n\n## A1\n\n### A1x\n\ntext1\n\n## A2\n\ntext2\n\n# B\n\ntext3"
    assert [c.heading for c in chunk_text(text)] == ["A > A1 > A1x", "A > A2", "B"]


def test_no_content():
    assert chunk_text("") == []
    assert chunk_text("# Only a heading\n\n## And another") == []
    assert chunk_text("\n\n   \n") == []
