"""What relations are called: zh/en labels and the words customers use for them, and value units.

A relation name such as ``warranty_months`` or ``门票`` maps to a *concept* (``warranty``, ``ticket``)
whose terms are matched in questions; its suffix gives the unit of its values (``24`` → "24 个月").
"""
from __future__ import annotations

import re

CONCEPTS: dict[str, dict[str, list[str]]] = {
    "price": {"label": ["价格", "price"],
              "terms": ["价格", "多少钱", "售价", "价钱", "几块钱", "贵不贵", "卖多少", "price", "cost", "how much",
                        "priced"]},
    "warranty": {"label": ["保修期", "warranty"],
                 "terms": ["保修", "质保", "保修期", "保多久", "保修多久", "warranty", "guarantee", "guaranteed"]},
    "color": {"label": ["颜色", "colours"],
              "terms": ["颜色", "配色", "什么色", "color", "colors", "colour", "colours"]},
    "category": {"label": ["类别", "category"], "terms": ["类别", "分类", "品类", "category", "kind of product"]},
    "description": {"label": ["介绍", "description"],
                    "terms": ["介绍", "简介", "描述", "特点", "信息", "description", "describe", "tell me about",
                              "information", "features"]},
    "sku": {"label": ["型号", "SKU"], "terms": ["型号", "货号", "sku", "model number", "product code"]},
    "address": {"label": ["地址", "address"],
                "terms": ["地址", "在哪", "在哪里", "在什么地方", "位置", "怎么去", "地点", "address", "where is",
                          "located", "location"]},
    "phone": {"label": ["电话", "phone"],
              "terms": ["电话", "联系电话", "电话号码", "联系方式", "号码", "phone", "telephone", "contact number",
                        "call"]},
    "hours": {"label": ["开放时间", "opening hours"],
              "terms": ["开放时间", "营业时间", "几点开门", "几点关门", "开门", "关门", "开放", "open", "opening hours",
                        "hours", "closing time"]},
    "ticket": {"label": ["门票", "admission"],
               "terms": ["门票", "票价", "门票多少钱", "要门票", "收费", "ticket", "tickets", "admission", "entry fee",
                         "entrance fee"]},
    "duration": {"label": ["建议游玩时间", "suggested visit"],
                 "terms": ["建议游玩时间", "游玩时间", "玩多久", "逛多久", "多长时间", "要多久", "how long to visit",
                           "how much time", "visit time"]},
    "nearby": {"label": ["周边景点", "nearby attractions"],
               "terms": ["周边景点", "周边", "附近", "附近有什么", "周围", "nearby", "near", "around", "close to"]},
    "information": {"label": ["介绍", "information"],
                    "terms": ["介绍", "简介", "information", "about", "tell me about"]},
}
# Relation names (lower case) → concept; a name not listed is matched by its own words.
RELATION_CONCEPT: dict[str, str] = {
    "price": "price", "price_cny": "price", "price_usd": "price", "价格": "price", "售价": "price",
    "warranty": "warranty", "warranty_months": "warranty", "保修": "warranty", "保修期": "warranty",
    "colors": "color", "color": "color", "colours": "color", "颜色": "color",
    "category": "category", "category_zh": "category", "类别": "category",
    "description": "description", "description_zh": "description",
    "sku": "sku", "型号": "sku",
    "地址": "address", "address": "address",
    "电话": "phone", "phone": "phone",
    "开放时间": "hours", "opening_hours": "hours", "hours": "hours",
    "门票": "ticket", "ticket": "ticket", "admission": "ticket",
    "建议游玩时间": "duration", "周边景点": "nearby", "nearby": "nearby",
    "information": "information",
}
UNITS: dict[str, tuple[str, str]] = {  # suffix → (zh format, en format)
    "_months": ("{} 个月", "{} months"), "_days": ("{} 天", "{} days"), "_years": ("{} 年", "{} years"),
    "_cny": ("{} 元", "¥{}"), "_rmb": ("{} 元", "¥{}"), "_usd": ("{} 美元", "${}"), "_eur": ("{} 欧元", "€{}"),
}
# Which value a language prefers first when several relations share a concept (price_cny vs price_usd).
PREFERRED_SUFFIX = {"zh": ("_cny", "_zh"), "en": ("_usd",)}


def concept(relation: str) -> str | None:
    """The concept a relation name stands for (``warranty_months`` → ``warranty``), if known."""
    return RELATION_CONCEPT.get(relation.strip().lower())


def words(relation: str) -> list[str]:
    """A relation name's own words: ``warranty_months`` → ["warranty", "months"]."""
    return [w for w in re.split(r"[_\s\-/]+", relation.strip().lower()) if w]


def label(relation: str, lang: str) -> str:
    """How to name the relation in an answer in ``lang``."""
    found = concept(relation)
    if found:
        return CONCEPTS[found]["label"][0 if lang == "zh" else 1]
    return " ".join(words(relation)) or relation


def render_value(relation: str, value: str, lang: str) -> str:
    """The value with its unit (``warranty_months``, ``24`` → "24 个月" / "24 months")."""
    rel = relation.strip().lower()
    for suffix, (zh, en) in UNITS.items():
        if rel.endswith(suffix) and re.fullmatch(r"\d+(?:\.\d+)?", value.strip()):
            return (zh if lang == "zh" else en).format(value.strip())
    return value.replace(";", "、" if lang == "zh" else ", ") if ";" in value and len(value) < 200 else value


UNIT_WORDS = {"months", "days", "years", "cny", "usd", "rmb", "eur", "zh", "en"}
