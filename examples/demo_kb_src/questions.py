"""Write examples/demo_questions.jsonl and check every keyword against the document it names."""

import json
from pathlib import Path

from . import render
from .faq_en import FAQ_EN
from .faq_zh import FAQ_ZH
from .policies import POLICIES
from .questions_data import ANSWERABLE, UNANSWERABLE
from .world import PRODUCTS


def _stem_texts(lang: str) -> dict:
    """Per stem, the text a right answer in `lang` would quote (policies: the same-language version)."""
    texts = {stem: render.to_text(en if lang == "en" else zh) for stem, (_fmt, en, zh) in POLICIES.items()}
    texts["catalogue"] = "\n".join(",".join(map(str, p)) for p in PRODUCTS)
    texts["faq"] = "\n".join(" ".join(r) for r in (FAQ_EN if lang == "en" else FAQ_ZH))
    return texts


def check_keywords() -> None:
    texts = {"en": _stem_texts("en"), "zh": _stem_texts("zh")}
    missing = [(q, k) for q, lang, stem, kws in ANSWERABLE for k in kws
               if k.lower() not in texts[lang][stem].lower()]
    if missing:
        raise SystemExit(f"keywords not found in their expected document: {missing}")
    kb = "\n".join(list(texts["en"].values()) + list(texts["zh"].values()))
    for q, _l in UNANSWERABLE:  # the knowledge base must not mention them
        for word in ("门店", "以旧换新", "学生", "trade in", "trade-in", "student", "physical store", "X2"):
            if word.lower() in q.lower() and word.lower() in kb.lower():
                raise SystemExit(f"out-of-scope question is answerable after all: {q}")


def write_questions(path: Path) -> Path:
    check_keywords()
    with path.open("w", encoding="utf-8") as f:
        for q, lang, stem, kws in ANSWERABLE:
            f.write(json.dumps({"q": q, "lang": lang, "expect": stem, "answerable": True, "keywords": kws},
                               ensure_ascii=False) + "\n")
        for q, lang in UNANSWERABLE:
            f.write(json.dumps({"q": q, "lang": lang, "expect": None, "answerable": False, "keywords": []},
                               ensure_ascii=False) + "\n")
    return path

