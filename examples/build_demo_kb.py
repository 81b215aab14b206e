#!/usr/bin/env python3
"""(Re)write the bundled NovaTech Store demo knowledge base.

    .venv/bin/python examples/build_demo_kb.py

Writes examples/demo-kb/ (FAQ, catalogue, policies in six formats, chat logs) and
examples/demo_questions.jsonl. Deterministic: running it again writes byte-identical files.
The data lives in examples/demo_kb_src/ (world.py holds every shared fact). Needs fpdf2 and
python-docx, and the WenQuanYi Micro Hei font (Debian: fonts-wqy-microhei) for the Chinese PDF.
"""

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from demo_kb_src import chats, policies, questions, tables  # noqa: E402


def main() -> int:
    root = HERE / "demo-kb"
    steps = [
        ("faq", lambda: tables.write_faq(root)),
        ("catalogue", lambda: tables.write_catalogue(root)),
        ("policies", lambda: policies.write_policies(root)),
        ("chatlogs", lambda: chats.write_chats(root)),
        ("questions", lambda: questions.write_questions(HERE / "demo_questions.jsonl")),
    ]
    for name, step in steps:  # each part is written before the next starts
        out = step()
        for p in out if isinstance(out, list) else [out]:
            print(f"{name:10} {p.relative_to(HERE.parent)}  {p.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    sys.exit(main())
