"""The voice channel over HTTP: ``GET /v1/voice``, ``POST /v1/voice/turn`` and the ``/v1/voice/call`` WebSocket.

``POST /v1/voice/turn`` takes the recording as the raw request body (any audio type: WAV, MP3, OGG, WebM,
FLAC; ``Content-Type`` is not trusted, the bytes are sniffed) with ``conversation_id`` and ``lang`` as
query parameters, and answers JSON: the transcript, the customer message and replies as in the chat API,
the spoken answer's text and citations, and the answer audio as base64 WAV (``audio.base64``).

``/v1/voice/call`` (WebSocket; key as ``?key=`` or ``X-Kefu-Key``): the first message is JSON
``{"event": "start", "format": "mulaw8k" | "pcm16k", "lang": "zh" | "en" | "auto"}`` (a Twilio media-stream
``start`` message also works); then binary frames of caller audio in that format (or Twilio-style
``{"event": "media", "media": {"payload": base64}}``), ``{"event": "stop"}`` to hang up. See
``kefu.voice.turn.CallSession`` for the events sent back. Errors close the socket with a reason:
1008 (credentials), 1003 (bad start or frames), 1009 (utterance too long), 1011 (server failure),
4408 (no audio for ``IDLE_SECONDS``).
"""
from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
import threading
import time

from fastapi import APIRouter, Depends, Query, Request, WebSocket
from starlette.concurrency import run_in_threadpool
from starlette.websockets import WebSocketDisconnect, WebSocketState

from kefu.errors import InputError, KefuError
from kefu.server.auth import SESSION_PREFIX, AuthError, ForbiddenError, Principal, digest, resolve_key
from kefu.server.deps import TENANT_RE, Services, customer, services

router = APIRouter(prefix="/v1/voice", tags=["voice"])
log = logging.getLogger("kefu.server.voice")
IDLE_SECONDS = 30.0
MAX_FRAME_BYTES = 64 * 1024
_runtime_lock = threading.Lock()


def runtime(app):
    """The app's ``VoiceRuntime`` (models load on first use); tests may set ``app.state.voice``."""
    with _runtime_lock:
        rt = getattr(app.state, "voice", None)
        if rt is None:
            from kefu.voice.turn import VoiceRuntime

            rt = app.state.voice = VoiceRuntime(app.state.services.config)
        return rt


def warm_up_in_background(app) -> threading.Thread | None:
    """Load the voice models in a background thread when the voice channel is available (setting
    ``voice_warm_up``), say the first pieces of every tenant's stored answers into the speech cache
    (``voice_warm_up_answers``, default tenant first) and make each tenant's lexicon; then check the knowledge
    every ``voice_answers_check_s`` (``check_knowledge``). A failure is logged, and the voice requests report it
    when they come. The checks stop when the app shuts down. Returns the warm-up thread."""
    rt = runtime(app)
    config = app.state.services.config
    if not config.voice_warm_up or not rt.status()["available"]:
        return None
    stop = threading.Event()
    app.state.closers = [*getattr(app.state, "closers", ()), stop.set]

    def work() -> None:
        from kefu.voice.prepare import knowledge_version

        try:
            seen = knowledge_version(app.state.services.engine.store, config.tenant)
            took = rt.warm_up(_answers(app))
            learnt = _learn_words(app)
        except Exception as exc:  # noqa: BLE001 - a background thread: log it, the requests will report it
            log.warning("voice warm-up failed: %s", exc, exc_info=not isinstance(exc, KefuError))
            return
        log.info("voice models ready: %s; lexicons of %d tenants", ", ".join(f"{k} {v:.1f}" for k, v in took.items()),
                 learnt)
        if config.voice_answers_check_s > 0 and not stop.is_set():
            threading.Thread(target=check_knowledge, args=(app, seen, stop), name="kefu-voice-answers",
                             daemon=True).start()

    thread = threading.Thread(target=work, name="kefu-voice-warm-up", daemon=True)
    thread.start()
    return thread


def check_knowledge(app, seen: tuple, stop: threading.Event) -> None:
    """Until ``stop``, every ``voice_answers_check_s`` (never when 0) compare the knowledge with ``seen``
    (``kefu.voice.prepare.knowledge_version``); when a tenant's changed (an ingest, here or by the CLI), prepare
    the stored answers again and remake the lexicons."""
    from kefu.voice.prepare import knowledge_version

    config = app.state.services.config
    every = config.voice_answers_check_s
    while every > 0 and not stop.wait(every):
        try:
            now = knowledge_version(app.state.services.engine.store, config.tenant)
            if now != seen:
                start = time.perf_counter()
                said = runtime(app).prepare_answers(_answers(app))
                _learn_words(app)
                seen = now
                log.info("knowledge changed: %d answer pieces said in %.1f s", said, time.perf_counter() - start)
        except Exception as exc:  # noqa: BLE001 - tried again at the next check
            log.warning("preparing the stored answers failed: %s", exc, exc_info=not isinstance(exc, KefuError))


def _learn_words(app) -> int:
    """Make (or bring up to date) every tenant's lexicon now, not in a caller's turn; returns how many."""
    from kefu.voice.prepare import tenants

    svc, rt = app.state.services, runtime(app)
    names = tenants(svc.engine.store, svc.config.tenant)
    for tenant in names:
        rt.lexicon(svc.engine.store, tenant, wait=True)
    return len(names)


def _answers(app) -> list[tuple[str, str]]:
    from kefu.voice.prepare import answers_to_prepare

    svc = app.state.services
    return answers_to_prepare(svc.engine.store, svc.config.tenant, svc.config.voice_warm_up_answers)


@router.get("", summary="Whether the voice channel is available, its languages and limits")
def voice_status(request: Request, who: Principal = Depends(customer)) -> dict:
    return runtime(request.app).status()


@router.post("/turn", summary="One spoken turn: audio in, transcript + answer + answer audio (base64 WAV) out",
             openapi_extra={"requestBody": {"required": True, "content": {
                 "application/octet-stream": {"schema": {"type": "string", "format": "binary"}},
                 "audio/*": {"schema": {"type": "string", "format": "binary"}}}}})
async def voice_turn(request: Request, conversation_id: str | None = Query(None, max_length=64),
                     lang: str = Query("auto", pattern="^(zh|en|auto)$"), speak: bool = Query(True),
                     who: Principal = Depends(customer), svc: Services = Depends(services)) -> dict:
    data = await request.body()
    rt = runtime(request.app)
    if conversation_id:
        await run_in_threadpool(svc.chat.get, who.tenant, conversation_id)  # 404 before any decoding
    result = await run_in_threadpool(rt.turn, svc.chat, who.tenant, data, conversation_id=conversation_id,
                                     lang=None if lang == "auto" else lang, speak=speak)
    return result.to_dict()


def _ws_principal(ws: WebSocket, svc: Services) -> Principal:
    """The caller of a WebSocket: the same keys and origin rules as ``deps.caller`` (no agent sessions)."""
    raw = ws.headers.get("x-kefu-key") or ws.query_params.get("key") or ""
    auth = ws.headers.get("authorization", "")
    if auth.lower().startswith("bearer "):
        raw = auth[7:].strip()
    client = ws.client.host if ws.client else "unknown"
    svc.limiter.hit("ip:" + client, svc.config.rate_limit_ip_per_min, "client address")
    if not raw:
        raise AuthError("an API key is required (?key=KEY or X-Kefu-Key: KEY)")
    if len(raw) > 200 or raw.startswith(SESSION_PREFIX):
        raise AuthError("the API key is not valid")
    who = resolve_key(svc.engine.chats, raw)
    svc.limiter.hit("key:" + digest(raw)[:24], svc.config.rate_limit_key_per_min, "API key")
    origin = ws.headers.get("origin")
    if who.kind == "widget" and origin and who.origins and origin.rstrip("/") not in who.origins:
        raise ForbiddenError(f"this widget key is not allowed on {origin[:100]}")
    if who.kind == "root":
        tenant = ws.headers.get("x-kefu-tenant") or ws.query_params.get("tenant") or svc.config.tenant
        if not TENANT_RE.fullmatch(tenant):
            raise InputError("the tenant must be 1-64 letters, digits, '.', '_' or '-'")
        who = Principal(tenant, "root", "root")
    return who


async def _close(ws: WebSocket, code: int, error: KefuError | None = None, reason: str = "") -> None:
    if ws.application_state == WebSocketState.DISCONNECTED or ws.client_state == WebSocketState.DISCONNECTED:
        return
    try:
        if error is not None:
            await ws.send_text(json.dumps({"event": "error", **error.to_dict()}, ensure_ascii=False))
        await ws.close(code=code, reason=(reason or (error.message if error else ""))[:120])
    except (RuntimeError, WebSocketDisconnect):
        pass  # the caller already went away


@router.websocket("/call")
async def voice_call(ws: WebSocket) -> None:
    from kefu.voice.turn import CallClosed, CallSession, parse_start

    svc: Services = ws.app.state.services
    await ws.accept()
    try:
        who = _ws_principal(ws, svc)
    except (AuthError, ForbiddenError) as exc:
        await _close(ws, 1008, exc)
        return
    except KefuError as exc:
        await _close(ws, 1008, exc)
        return
    rt = runtime(ws.app)
    session: CallSession | None = None
    try:
        rt.require()
        first = await asyncio.wait_for(ws.receive(), IDLE_SECONDS)
        if first["type"] == "websocket.disconnect":
            return
        try:
            msg = json.loads(first.get("text") or "")
        except ValueError:
            msg = None
        fmt, lang, conv = parse_start(msg)
        session = CallSession(rt, svc.chat, who.tenant, fmt, lang=lang, conversation_id=conv,
                              send_json=lambda m: ws.send_text(json.dumps(m, ensure_ascii=False)),
                              send_bytes=ws.send_bytes)
        await session.start()
        while True:
            message = await asyncio.wait_for(ws.receive(), IDLE_SECONDS)
            if message["type"] == "websocket.disconnect":
                session.cancel()
                return
            data = message.get("bytes")
            if data is None:
                data = _text_frame(message.get("text") or "")
                if data is None:  # stop
                    await session.finish()
                    await _close(ws, 1000, reason="call ended")
                    return
            if len(data) > MAX_FRAME_BYTES:
                raise CallClosed(f"a frame may hold at most {MAX_FRAME_BYTES} bytes", 1009)
            await session.feed(data)
    except TimeoutError:
        await _close(ws, 4408, InputError(f"no audio for {IDLE_SECONDS:.0f} s; the call is closed"))
    except CallClosed as exc:
        await _close(ws, exc.close_code, exc)
    except KefuError as exc:
        await _close(ws, 1003 if exc.status < 500 else 1011, exc)
    except WebSocketDisconnect:
        pass
    except Exception:  # log it, tell the caller, and never leave the socket hanging
        log.exception("voice call failed")
        await _close(ws, 1011, KefuError("the call failed on the server; the error is logged"))
    finally:
        if session is not None:
            session.cancel()


def _text_frame(text: str) -> bytes | None:
    """Audio bytes from a Twilio-style ``media`` message; ``None`` for ``stop``; errors for anything else."""
    try:
        msg = json.loads(text)
    except ValueError:
        raise InputError("text messages must be JSON events (media, stop)") from None
    event = msg.get("event") if isinstance(msg, dict) else None
    if event == "stop":
        return None
    if event == "media":
        payload = (msg.get("media") or {}).get("payload") if isinstance(msg.get("media"), dict) else None
        try:
            return base64.b64decode(payload or "", validate=True)
        except (binascii.Error, TypeError, ValueError):
            raise InputError("media.payload must be base64 audio") from None
    if event in ("mark", "dtmf", "connected"):
        return b""
    raise InputError(f"unknown event {str(event)[:40]!r}; send binary audio frames, media or stop")
