"""``kefu say`` and ``kefu transcribe`` through click's CliRunner."""
from __future__ import annotations

import json
import wave

import pytest

from tests.test_cli import cli_env, kefu
from tests.voice.conftest import needs_voice

pytestmark = [pytest.mark.voice, pytest.mark.slow, needs_voice]


def test_say_and_transcribe(tmp_path, asr):
    home = tmp_path / "home"
    cache = f"voice_cache_dir={asr.cache_dir}"
    en, zh = tmp_path / "en.wav", tmp_path / "out" / "zh.wav"
    r = kefu(home, "say", "Your refund of $19.99 arrives on 2026-03-05.", "-o", str(en))
    assert r.exit_code == 0, r.output
    r = kefu(home, "say", "您的订单已发货，运费¥12.50。", "-o", str(zh), "--lang", "zh", "--rate", "1.2")
    assert r.exit_code == 0, r.output
    with wave.open(str(en)) as w:
        assert w.getframerate() == 24000 and w.getnframes() > 24000
    bad = tmp_path / "notes.mp3"
    bad.write_text("not audio at all")
    r = kefu(home, "-s", cache, "transcribe", str(en), str(zh), str(bad), "--json")
    assert r.exit_code == 1  # one file failed; the others are still transcribed
    rows = [json.loads(line) for line in r.output.splitlines() if line.startswith("{")]
    assert [row["file"] for row in rows] == [str(en), str(zh), str(bad)]
    assert "refund" in rows[0]["text"].lower() and rows[0]["language"] == "en"
    assert rows[1]["language"] == "zh"
    assert rows[2]["error"]["code"] == "invalid_audio"
    r = kefu(home, "-s", cache, "transcribe", str(en), "--lang", "en")
    assert r.exit_code == 0 and "refund" in r.output.lower()


def test_say_refuses_bad_input(tmp_path):
    r = kefu(tmp_path / "home", "say", "   ", "-o", str(tmp_path / "x.wav"))
    assert r.exit_code == 2 and "no text" in r.output
    r = kefu(tmp_path / "home", "say", "hello", "-o", str(tmp_path / "x.wav"), "--rate", "9")
    assert r.exit_code == 2
    env = cli_env(KEFU_TTS_EN="nope")
    from click.testing import CliRunner

    from kefu.cli import main

    r = CliRunner().invoke(main, ["--home", str(tmp_path / "home"), "say", "hello", "-o", str(tmp_path / "x.wav")],
                           env=env)
    assert r.exit_code == 2 and "unknown tts backend" in r.output
