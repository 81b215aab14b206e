"""Write every policy document in both languages (one module per policy holds the text)."""

from pathlib import Path

from . import render
from .policy_membership import DOCS as MEMBERSHIP
from .policy_payment import DOCS as PAYMENT
from .policy_privacy import DOCS as PRIVACY
from .policy_returns import RETURNS_EN, RETURNS_ZH
from .policy_shipping import DOCS as SHIPPING
from .policy_warranty import DOCS as WARRANTY

# stem -> (file format, English document, Chinese document)
POLICIES = {
    "returns": ("md", RETURNS_EN, RETURNS_ZH),
    "shipping": SHIPPING,
    "warranty": WARRANTY,
    "payment": PAYMENT,
    "membership": MEMBERSHIP,
    "privacy": PRIVACY,
}


def write_policies(root: Path) -> list:
    out_dir = root / "policies"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for stem, (fmt, en, zh) in POLICIES.items():
        for lang, doc in (("en", en), ("zh", zh)):
            path = out_dir / f"{stem}.{lang}.{fmt}"
            if fmt == "md":
                path.write_text(render.to_markdown(doc), encoding="utf-8")
            elif fmt == "html":
                path.write_text(render.to_html(doc), encoding="utf-8")
            elif fmt == "txt":
                path.write_text(render.to_text(doc), encoding="utf-8")
            elif fmt == "pdf":
                render.write_pdf(doc, path)
            elif fmt == "docx":
                render.write_docx(doc, path)
            written.append(path)
    return written
