"""Call start messages and the text read aloud (no models needed)."""
from __future__ import annotations

import pytest

from kefu.errors import InputError
from kefu.voice.turn import heard_as_said, parse_start, speech_text


def test_start_messages():
    assert parse_start({"event": "start", "format": "mulaw8k"}) == ("mulaw8k", None, None)
    assert parse_start({"event": "start", "format": "pcm16k", "lang": "zh", "conversation_id": "c_1"}) == (
        "pcm16k", "zh", "c_1")
    twilio = {"event": "start", "start": {"streamSid": "MZ1", "mediaFormat": {
        "encoding": "audio/x-mulaw", "sampleRate": 8000, "channels": 1}}}
    assert parse_start(twilio)[0] == "mulaw8k"
    for bad in (None, [], {"event": "media"}, {"event": "start", "format": "opus"},
                {"event": "start", "start": {"mediaFormat": {"encoding": "audio/x-mulaw", "sampleRate": 44100}}},
                {"event": "start", "format": "pcm16k", "lang": "fr"},
                {"event": "start", "format": "pcm16k", "conversation_id": 5}):
        with pytest.raises(InputError):
            parse_start(bad)


def test_speech_text_drops_citation_marks_links_and_markup():
    assert speech_text("Returns are free within 30 days [1]. See https://x.example/returns **now**.") == \
        "Returns are free within 30 days. See now."
    assert speech_text("七天无理由退货[1, 2]。") == "七天无理由退货。"


def test_speech_text_reads_tables_and_lists_as_sentences():
    """A table header was read as 目的地 快递 时效 and bullets as characters; now each row is a sentence."""
    table = ("| 目的地 | 快递 | 时效 |\n|---|:---:|---|\n| 江浙沪、珠三角 | 顺丰 / 京东物流 | 1-2天 |\n"
             "| International | DHL Express | 3-6 business days |")
    assert speech_text(table).split("\n") == ["目的地，快递，时效。", "江浙沪、珠三角，顺丰 / 京东物流，1-2天。",
                                                "International, DHL Express, 3-6 business days."]
    listed = ("我们收集的信息\n- 账号信息：姓名；\n• 客服记录：聊天内容；• 国际站：邮件\n"
              "1. Open My Orders.\n2) Tap Return.")
    assert speech_text(listed).split("\n") == ["我们收集的信息", "账号信息：姓名；",
                                                 "客服记录：聊天内容； 国际站：邮件", "Open My Orders.", "Tap Return."]
    for kept in ("-5 度也能用。", "迈克尔·乔丹", "2024-01-05 到货。", "1.5 kg"):
        assert speech_text(kept) == kept
    assert speech_text("a | b") == "a b"


def test_handoff_homophones():
    assert heard_as_said("我想传人工客服") == "我想转人工客服"
    assert heard_as_said("我想穿人工") == "我想转人工"
    assert heard_as_said("人工智能") == "人工智能"


def test_interrupt_runs_hooks_once_and_reaches_worker_threads():
    import asyncio

    from kefu.voice.base import Interrupt, SpeechInterrupted, current_interrupt, interruptible

    interrupt, calls = Interrupt(), []
    forget = interrupt.on_stop(lambda: calls.append("a"))
    interrupt.on_stop(lambda: calls.append("b"))
    forget()
    interrupt.check()
    interrupt.stop()
    interrupt.stop()
    assert calls == ["b"]
    interrupt.on_stop(lambda: calls.append("late"))  # already stopped: runs at once
    assert calls == ["b", "late"]
    with pytest.raises(SpeechInterrupted):
        interrupt.check()

    async def main():
        mine = Interrupt()
        with interruptible(mine):
            seen = await asyncio.to_thread(current_interrupt)
        return mine, seen, current_interrupt()

    mine, seen, after = asyncio.run(main())
    assert seen is mine and after is None


def _frames(script: list[tuple[str, int]]) -> list:
    """20-ms frames of 16 kHz audio: ``("loud", n)`` is n frames of a 220 Hz tone, ``("quiet", n)`` silence."""
    import numpy as np

    t = np.arange(320) / 16000
    frame = {"loud": (0.3 * np.sin(2 * np.pi * 220 * t)).astype(np.float32), "quiet": np.zeros(320, np.float32)}
    return [frame[kind] for kind, n in script for _ in range(n)]


def _call(asr, frames: list, *, partial_every_s: float, pace_s: float) -> list[dict]:
    """Stream ``frames`` through a ``CallSession`` over ``asr`` (no dialog: every turn ends in an error
    event); returns the events sent to the caller."""
    import asyncio

    from kefu.config import Config
    from kefu.errors import KefuError
    from kefu.voice.audio import pcm16_encode
    from kefu.voice.turn import CallSession, VoiceRuntime

    class Chat:
        def post(self, tenant, conversation_id, text):
            raise KefuError("no dialog in this test")

    events: list[dict] = []

    async def send_json(msg):
        events.append(msg)

    async def send_bytes(data):
        pass

    async def call():
        runtime = VoiceRuntime(Config.load(None, env={}), asr=asr, speaker=None)
        session = CallSession(runtime, Chat(), "acme", "pcm16k", lang="en", conversation_id="c_1",
                              send_json=send_json, send_bytes=send_bytes, partial_every_s=partial_every_s)
        for frame in frames:
            await session.feed(pcm16_encode(frame))
            await asyncio.sleep(pace_s)
        await session.finish()

    asyncio.run(call())
    return events


def test_a_caller_who_pauses_and_goes_on_never_queues_recognitions():
    """Pauses long enough to guess the end (≥ 240 ms) followed by more speech: at most one partial or
    speculation runs at a time, so the final recognition never waits behind several stale guesses."""
    import threading
    import time

    from kefu.voice.base import Transcript

    state = {"running": 0, "most": 0, "calls": 0}
    lock = threading.Lock()

    class SlowASR:
        def transcribe(self, audio, *, lang=None):
            with lock:
                state["running"] += 1
                state["calls"] += 1
                state["most"] = max(state["most"], state["running"])
            time.sleep(0.45)
            with lock:
                state["running"] -= 1
            return Transcript("where is my order", "en", 1.0, audio.seconds)

    # speech, then three pauses of 300 ms each followed by 100 ms of speech, then the end of the utterance
    frames = _frames([("quiet", 15), ("loud", 40)] + [("quiet", 15), ("loud", 5)] * 3 + [("quiet", 40)])
    events = _call(SlowASR(), frames, partial_every_s=0.5, pace_s=0.02)
    finals = [e for e in events if e["event"] == "transcript" and e.get("final")]
    assert len(finals) == 1 and finals[0]["text"] == "where is my order"
    assert state["most"] <= 2, state  # one guess at most, and the final beside it
    assert state["calls"] <= 6, state


@pytest.mark.parametrize(("blip_frames", "guess_used"), [(2, True), (10, False)])
def test_a_blip_after_the_pause_keeps_the_guess_but_words_do_not(blip_frames, guess_used):
    """40 ms of noise after the caller stopped leaves the speculative recognition standing (the answer
    does not wait for another); 200 ms of sound is more speech, recognised again in full."""
    import time

    from kefu.voice.base import Transcript

    heard = []

    class ASR:
        def transcribe(self, audio, *, lang=None):
            heard.append(audio.seconds)
            time.sleep(0.05)
            return Transcript("where is my order", "en", 1.0, audio.seconds)

    frames = _frames([("quiet", 15), ("loud", 40), ("quiet", 15), ("loud", blip_frames), ("quiet", 40)])
    _call(ASR(), frames, partial_every_s=10, pace_s=0.005)
    if guess_used:  # the guess made at the pause is the answer's recognition
        assert len(heard) == 1, heard
    else:  # recognised again with the new sound
        assert len(heard) == 2 and heard[-1] > heard[0] + 0.2, heard


@pytest.mark.parametrize(("loud_frames", "recognitions"), [(40, 1), (55, 2)])
def test_a_partial_that_began_as_the_caller_stopped_is_the_transcript(loud_frames, recognitions):
    """A partial started ≤ 150 ms before the end of speech heard it all: it stands for the utterance instead of
    a final recognition queued behind it. One that began earlier (300 ms) missed words: recognised again."""
    import time

    from kefu.voice.base import Transcript

    heard = []

    class SlowASR:
        def transcribe(self, audio, *, lang=None):
            heard.append(round(audio.seconds, 2))
            time.sleep(0.3)
            return Transcript(f"heard {audio.seconds:.2f} s", "en", 1.0, audio.seconds)

    # 0.3 s of pre-roll: the partial (due at 1.0 s of utterance) starts 0.7 s into the speech
    events = _call(SlowASR(), _frames([("quiet", 15), ("loud", loud_frames), ("quiet", 40)]),
                   partial_every_s=1.0, pace_s=0.02)
    final = [e for e in events if e["event"] == "transcript" and e.get("final")]
    assert len(heard) == recognitions, heard
    assert len(final) == 1 and final[0]["text"] == f"heard {heard[-1]:.2f} s"
    if recognitions == 2:
        assert heard[1] > heard[0] + 0.25


def test_an_english_answer_that_starts_with_chinese_starts_in_the_slow_voice_s_short_pieces():
    """The Han part of an English answer is spoken by the Mandarin voice: a slow one (Kokoro) starts it in a
    short first piece, as it does a Chinese answer; plain English and cached clauses are spoken whole."""
    from kefu.voice.tts import quick_start, speech_units
    from kefu.voice.turn import answer_pieces

    class Voice:
        def __init__(self, first_piece_chars=0):
            self.first_piece_chars = first_piece_chars

    class Speaker:
        backends = {"en": Voice(), "zh": Voice(3)}
        cached: set = set()

        def is_cached(self, text, lang, rate):
            return text in self.cached

    speaker = Speaker()
    mixed = "VAT special invoice (增值税专用发票) within 5 business days."
    pieces = answer_pieces(speaker, mixed, "en", 1.0)
    assert "".join(p for p, _ in pieces) == mixed and len(pieces) >= 3
    # The English words first (the fast voice), then the Chinese in a short first piece of the slow one.
    assert pieces[0] == ("VAT special invoice (", False)
    assert pieces[1][0] == "增值税" and pieces[1][1] is False
    starts_chinese = "增值税专用发票 (VAT special invoice) within 5 business days."
    assert answer_pieces(speaker, starts_chinese, "en", 1.0)[0] == ("增值税", False)
    one_word = "VAT (增值税专用发票) within 5 business days."
    assert answer_pieces(speaker, one_word, "en", 1.0)[0][0] == "VAT (增值税"
    chinese = "Buds Pro 支持主动降噪和通透模式，续航八小时。"  # a Chinese answer: its words are read in Chinese
    assert answer_pieces(speaker, chinese, "zh", 1.0) == quick_start(speech_units(chinese), 3)
    english = "Returns are free within 30 days."
    assert answer_pieces(speaker, english, "en", 1.0) == [(english, True)]
    speaker.cached.add(mixed)
    assert answer_pieces(speaker, mixed, "en", 1.0) == [(mixed, True)]
