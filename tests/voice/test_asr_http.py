"""The HTTP ASR backend against a real OpenAI-style ``/v1/audio/transcriptions`` server on loopback."""
from __future__ import annotations

import io
import json
import wave
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler

import numpy as np
import pytest

from kefu.errors import BackendError, ConfigError
from kefu.voice.asr import HttpASR, load_asr
from kefu.voice.base import ASR, Audio, NoSpeechError
from tests.helpers import loopback_server
from tests.voice.conftest import needs_voice


def _tone(seconds: float = 1.0, rate: int = 22050) -> Audio:
    t = np.arange(int(seconds * rate)) / rate
    return Audio(0.3 * np.sin(2 * np.pi * 220 * t), rate)


@pytest.fixture(scope="module")
def asr_server():
    """A transcription service: multipart form in, OpenAI-style JSON out; records what it was sent.

    The transcript is chosen by the form's ``model``: ``fake-zh`` answers in Chinese with segments and
    ``"language": "chinese"`` (as OpenAI's verbose_json does), ``json-only`` refuses verbose_json like a
    service that only knows ``json``, ``broken`` answers 500, ``garbage`` answers non-JSON, ``whisper``
    transcribes the upload with the real recogniser set on the server (``state["asr"]``).
    """
    state: dict = {"seen": [], "asr": None}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):  # noqa: N802
            body = self.rfile.read(int(self.headers["Content-Length"]))
            msg = BytesParser(policy=HTTP).parsebytes(
                b"Content-Type: " + self.headers["Content-Type"].encode() + b"\r\n\r\n" + body)
            form, audio = {}, None
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if part.get_filename():
                    audio = part.get_payload(decode=True)
                else:
                    form[name] = part.get_content().strip()
            with wave.open(io.BytesIO(audio)) as w:
                info = {"rate": w.getframerate(), "channels": w.getnchannels(), "frames": w.getnframes()}
            state["seen"].append({"path": self.path, "form": form, "wav": info,
                                  "auth": self.headers.get("Authorization")})
            model = form.get("model")
            if model == "broken":
                return self._send(500, b"model crashed")
            if model == "garbage":
                return self._send(200, b"<html>not json</html>")
            if model == "json-only" and form.get("response_format") != "json":
                return self._send(400, b'{"error": "unsupported response_format verbose_json"}')
            if model == "whisper":
                samples = np.frombuffer(audio[44:], "<i2").astype(np.float32) / 32768.0
                t = state["asr"].transcribe(Audio(samples, info["rate"]), lang=form.get("language"))
                out = {"text": t.text, "language": t.language, "segments": t.segments}
            elif model == "json-only":
                out = {"text": "Where is my order?"}
            else:
                out = {"text": " 我的订单 还没有发货 ", "language": "chinese", "duration": 1.0,
                       "segments": [{"id": 0, "start": 0.0, "end": 0.6, "text": "我的订单"},
                                    {"id": 1, "start": 0.6, "end": 1.0, "text": "还没有发货"}]}
            self._send(200, json.dumps(out).encode(), "application/json")

        def _send(self, status: int, data: bytes, ctype: str = "text/plain") -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *args):
            pass

    with loopback_server(Handler) as url:
        yield url + "/v1/audio/transcriptions", state


def test_protocol_form_and_answer(asr_server, monkeypatch):
    url, state = asr_server
    monkeypatch.setenv("KEFU_ASR_API_KEY", "secret-asr-key")
    backend = HttpASR(url, model="fake-zh")
    assert isinstance(backend, ASR)
    t = backend.transcribe(_tone(1.0, 22050), lang="zh")
    sent = state["seen"][-1]
    assert sent["path"] == "/v1/audio/transcriptions"
    assert sent["form"] == {"model": "fake-zh", "response_format": "verbose_json", "temperature": "0",
                            "language": "zh"}
    assert sent["wav"] == {"rate": 16000, "channels": 1, "frames": 16000}  # resampled to 16 kHz mono
    assert sent["auth"] == "Bearer secret-asr-key"
    assert t.text == "我的订单还没有发货" and t.language == "zh"  # spaces between Han characters dropped
    assert [s["text"] for s in t.segments] == ["我的订单", "还没有发货"] and t.duration == pytest.approx(1.0)


def test_detected_language_is_mapped_and_no_key_no_header(asr_server, monkeypatch):
    url, state = asr_server
    monkeypatch.delenv("KEFU_ASR_API_KEY", raising=False)
    t = HttpASR(url, model="fake-zh").transcribe(_tone(), lang=None)
    assert t.language == "zh"  # "chinese" in the answer
    assert "language" not in state["seen"][-1]["form"] and state["seen"][-1]["auth"] is None


def test_json_only_service_is_asked_again(asr_server):
    url, state = asr_server
    n = len(state["seen"])
    t = HttpASR(url, model="json-only").transcribe(_tone())
    assert t.text == "Where is my order?" and t.language == "en" and t.segments == []
    assert [s["form"]["response_format"] for s in state["seen"][n:]] == ["verbose_json", "json"]


def test_errors(asr_server):
    url, _ = asr_server
    with pytest.raises(BackendError, match="answered 500"):
        HttpASR(url, model="broken").transcribe(_tone())
    with pytest.raises(BackendError, match="without a transcript"):
        HttpASR(url, model="garbage").transcribe(_tone())
    with pytest.raises(BackendError, match="did not answer"):
        HttpASR("http://127.0.0.1:9/v1/audio/transcriptions", timeout=2).transcribe(_tone())
    with pytest.raises(NoSpeechError):
        HttpASR(url).transcribe(Audio(np.zeros(100, np.float32), 16000))
    with pytest.raises(ConfigError, match="http"):
        HttpASR("ftp://example.com/asr")


def test_settings_select_it(asr_server, tmp_path):
    from kefu.config import Config
    from kefu.registry import resolve
    from kefu.voice.turn import VoiceRuntime

    assert resolve("asr", "http") is HttpASR
    url, _ = asr_server
    config = Config.load(tmp_path, env={"KEFU_ASR": "http", "KEFU_ASR_URL": url, "KEFU_ASR_TIMEOUT_S": "5"})
    backend = load_asr(config)
    assert isinstance(backend, HttpASR) and backend.url == url
    runtime = VoiceRuntime(config)
    assert not [p for p in runtime.status()["problems"] if "asr" in p]
    unset = Config.load(tmp_path, env={}, overrides={"asr": "http"})
    assert any("asr_url" in p for p in VoiceRuntime(unset).status()["problems"])
    runtime._asr = HttpASR(url, model="fake-zh")
    assert runtime.transcribe(_tone(), "zh").text == "我的订单还没有发货"


@pytest.mark.voice
@pytest.mark.slow
@needs_voice
def test_round_trip_through_a_real_recogniser(asr_server, asr, say):
    """The WAV kefu uploads is intact: whisper behind the service hears the sentence."""
    url, state = asr_server
    state["asr"] = asr
    t = HttpASR(url, model="whisper").transcribe(say("How do I return an item?"), lang="en")
    assert "return" in t.text.lower() and t.language == "en" and t.segments
