"""CLI commands for speech: ``kefu say`` and ``kefu transcribe``.

Added to the ``kefu`` group by ``register(main)`` (called from :mod:`kefu.cli`).
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

import click
from rich.console import Console

from kefu.errors import InputError, KefuError

out = Console()
err = Console(stderr=True)


def _runtime(ctx: click.Context):
    from kefu.voice.turn import VoiceRuntime

    return VoiceRuntime(ctx.obj["engine"].config)


@click.command()
@click.argument("text")
@click.option("-o", "--output", "output", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="WAV file to write (16-bit mono, 24 kHz).")
@click.option("--lang", type=click.Choice(["zh", "en", "auto"]), default="auto", show_default=True,
              help="Language of the text; mixed text is split by script either way.")
@click.option("--rate", type=click.FloatRange(0.5, 2.0), default=None, help="Speaking rate (default: tts_rate).")
@click.pass_context
def say(ctx: click.Context, text: str, output: Path, lang: str, rate: float | None) -> None:
    """Speak TEXT into a WAV file (numbers, order ids, prices and dates read naturally)."""
    rt = _runtime(ctx)
    speaker = rt.speaker
    audio = speaker.speak(text, None if lang == "auto" else lang, rate or rt.config.tts_rate)
    if not audio.samples.size:
        raise InputError("nothing to say: the text has no speakable words")
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_bytes(audio.to_wav())
    err.print(f"wrote {output} ({audio.seconds:.2f} s, {audio.sample_rate} Hz)", highlight=False)


@click.command()
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--lang", type=click.Choice(["zh", "en", "auto"]), default="auto", show_default=True,
              help="Force the language, or detect it (always zh or en).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per file.")
@click.pass_context
def transcribe(ctx: click.Context, files: tuple[Path, ...], lang: str, as_json: bool) -> None:
    """Transcribe audio FILES (WAV, MP3, OGG, WebM, FLAC… any sample rate). Exit 1 if any file failed."""
    from kefu.voice.audio import decode

    rt = _runtime(ctx)
    rt.require()
    failed = 0
    for path in files:
        try:
            max_s = rt.config.voice_max_seconds
            if path.stat().st_size > rt.config.voice_max_upload_mb * 1024 * 1024 * 50:
                raise InputError(f"{path.stat().st_size} bytes is too large to be audio kefu accepts")
            audio = decode(path.read_bytes(), max_seconds=max_s)
            t = rt.transcribe(audio, None if lang == "auto" else lang)
        except KefuError as exc:
            failed += 1
            if as_json:
                print(json.dumps({"file": str(path), **exc.to_dict()}, ensure_ascii=False))
            else:
                err.print(f"[red]{path}: {exc}[/]", highlight=False)
            continue
        if as_json:
            print(json.dumps({"file": str(path), **t.to_dict(), "seconds": round(t.seconds, 3)}, ensure_ascii=False))
        else:
            prefix = f"{path}: " if len(files) > 1 else ""
            out.print(f"{prefix}[dim]({t.language})[/] {t.text}", highlight=False)
    sys.stdout.flush()
    if failed:
        ctx.exit(1)


def register(main: click.Group) -> None:
    """Add ``say`` and ``transcribe`` to the ``kefu`` group."""
    main.add_command(say)
    main.add_command(transcribe)
