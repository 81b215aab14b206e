"""The engine wires settings to backends lazily."""
from __future__ import annotations

import pytest

from kefu.config import Config
from kefu.engine import Engine
from kefu.errors import ConfigError
from kefu.nlp.embed import HashEmbedder
from kefu.store.sqlite import SQLiteStore
from tests import helpers


def test_nothing_is_built_until_used(home):
    engine = Engine(Config.load(home=home, env={}))
    assert not (home / "kefu.db").exists()
    engine.close()  # closing an engine that never opened a store is fine
    assert not (home / "kefu.db").exists()


def test_backends_follow_settings(home, tmp_path):
    db = tmp_path / "elsewhere" / "custom.db"
    engine = Engine(Config.load(home=home, env={}, overrides={
        "embedder": "hash", "database_url": str(db), "top_k": "3", "answer_threshold": "0.7",
        "chunk_chars": "300", "max_file_mb": "2", "rrf_k": "10", "keyword_weight": "2",
        "vector_weight": "0.5"}))
    try:
        assert isinstance(engine.store, SQLiteStore) and engine.store.path == db
        assert isinstance(engine.embedder.inner, HashEmbedder)  # behind the query cache
        assert engine.answerer.top_k == 3 and engine.answerer.threshold == 0.7
        assert engine.ingestor.chunk_chars == 300 and engine.ingestor.max_bytes == 2 * 1024 * 1024
        assert engine.retriever.rrf_k == 10 and engine.retriever.weights == {"keyword": 2.0, "vector": 0.5}
        assert engine.store is engine.store  # built once
    finally:
        engine.close()


def test_dotted_path_backend(home):
    engine = Engine(Config.load(home=home, env={}, overrides={"embedder": "kefu.nlp.embed:HashEmbedder"}))
    assert isinstance(engine.embedder.inner, HashEmbedder)


def test_unknown_backend_is_a_config_error_when_used(home):
    engine = Engine(Config.load(home=home, env={}, overrides={"store": "postgresx"}))
    with pytest.raises(ConfigError, match="postgresx"):
        engine.store  # noqa: B018


def test_engine_fixture_round_trip(engine, tmp_path):
    report = engine.ingestor.ingest([helpers.faq_csv(tmp_path / "faq.csv")], tenant="acme")
    assert report.totals()["chunks"] == len(helpers.FAQ_ROWS)
    answer = engine.answerer.ask("acme", "How do I return an item?")
    assert answer.mode == "faq" and answer.citations[0].uri == "faq/faq.csv"
    assert (engine.config.home / "kefu.db").exists()
