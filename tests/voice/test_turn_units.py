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
