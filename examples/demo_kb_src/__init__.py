"""Data and writers for the bundled NovaTech Store demo knowledge base.

Everything here is fictional. `examples/build_demo_kb.py` imports these modules and
(re)writes `examples/demo-kb/` and `examples/demo_questions.jsonl` deterministically.
"""
