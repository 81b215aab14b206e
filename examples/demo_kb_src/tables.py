"""Writers for the FAQ table and the product catalogue."""

import csv
from pathlib import Path

from .faq_en import FAQ_EN
from .faq_zh import FAQ_ZH
from .world import PRODUCTS


def _interleave(a, b):
    out = []
    for i in range(max(len(a), len(b))):
        if i < len(a):
            out.append(a[i])
        if i < len(b):
            out.append(b[i])
    return out


def write_faq(root: Path) -> Path:
    path = root / "faq" / "faq.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["question", "answer", "category", "tags"])
        for row in _interleave(FAQ_ZH, FAQ_EN):
            w.writerow(row)
    return path


def write_catalogue(root: Path) -> Path:
    path = root / "catalogue" / "products.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["sku", "name", "name_zh", "category", "category_zh", "price_cny", "price_usd",
                    "warranty_months", "colors", "description", "description_zh"])
        for row in PRODUCTS:
            w.writerow(row)
    return path
