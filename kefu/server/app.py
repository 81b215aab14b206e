"""The HTTP server: ``create_app(config)`` builds a FastAPI app; nothing happens at import.

Errors of every kind come back as ``{"error": {"code", "message"}}`` with the right status;
request bodies over ``max_request_kb`` are refused before they are read; browsers may call the
API from the origins bound to widget keys (plus ``cors_origins``).
"""
from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from importlib import resources

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Receive, Scope, Send

from kefu import __version__
from kefu.config import Config
from kefu.engine import Engine
from kefu.errors import KefuError
from kefu.server import routes_admin, routes_agent, routes_agent_live, routes_chat, routes_openai
from kefu.server.auth import RateLimiter, RateLimitError
from kefu.server.deps import Services
from kefu.server.live import Live, listen_across_replicas
from kefu.server.ratelimit import counter_for

log = logging.getLogger("kefu.server")
CORS_HEADERS = "Authorization, Content-Type, X-Kefu-Key, X-Kefu-Tenant, Last-Event-ID, Idempotency-Key"


def create_app(config: Config, engine: Engine | None = None) -> FastAPI:
    """The app for ``config``; pass an ``engine`` to share loaded models (tests, benchmarks)."""
    engine = engine or Engine(config)
    app = FastAPI(title="kefu", version=__version__,
                  description="Customer-service API: cited answers from your knowledge, human handoff, "
                              "agent console, OpenAI-compatible chat completions.", lifespan=_lifespan)
    live = Live()
    engine.service.watch(live.notify)
    # Replicas on PostgreSQL share the rate-limit counters and wake each other's event streams.
    limiter = RateLimiter(counter_for(engine.chats))
    listener = listen_across_replicas(engine.chats, live)
    app.state.services = Services(config, engine, limiter, live)
    app.state.closers = [limiter.close] + ([listener.close] if listener is not None else [])
    app.state.origins_cache = (0.0, frozenset())
    for module in (routes_chat, routes_openai, routes_agent, routes_admin, routes_agent_live):
        app.include_router(module.router)
    from kefu.server import routes_kg

    app.include_router(routes_kg.router)
    routes_kg.pages(app)
    from kefu.server import routes_voice

    app.include_router(routes_voice.router)
    _pages(app)
    _errors(app)
    app.add_middleware(_Cors, app_ref=app)
    app.add_middleware(_BodyLimit, limit=int(config.max_request_kb * 1024),
                       paths={"/v1/voice/turn": (int(config.voice_max_upload_mb * 1024 * 1024), "voice_max_upload_mb")})
    return app


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    for close in getattr(app.state, "closers", ()):
        close()


def _pages(app: FastAPI) -> None:
    @app.get("/healthz", tags=["pages"], summary="Liveness and what is loaded")
    def healthz(request: Request) -> dict:
        svc = request.app.state.services
        return {"status": "ok", "version": __version__, "tenant": svc.config.tenant}

    @app.get("/widget.js", tags=["pages"], summary="The embeddable chat widget", response_class=Response)
    def widget() -> Response:
        return Response(_static("widget.js"), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})

    @app.get("/agent.js", tags=["pages"], summary="The agent pages' shared client (sign-in, API calls)",
             response_class=Response)
    def agent_js() -> Response:
        return Response(_static("agent.js"), media_type="text/javascript; charset=utf-8",
                        headers={"Cache-Control": "no-cache"})

    @app.get("/console", tags=["pages"], summary="The agent console", response_class=HTMLResponse)
    def console() -> HTMLResponse:
        return HTMLResponse(_static("console.html"))

    @app.get("/dashboard", tags=["pages"], summary="The conversation dashboard (agents sign in)",
             response_class=HTMLResponse)
    def dashboard() -> HTMLResponse:
        return HTMLResponse(_static("dashboard.html"))

    @app.get("/demo", tags=["pages"], summary="A demo shop page with the widget", response_class=HTMLResponse)
    def demo(request: Request) -> HTMLResponse:
        key = getattr(request.app.state, "demo_widget_key", "")
        html = _static("demo.html").replace("{{WIDGET_KEY}}", key)
        return HTMLResponse(html)

    @app.get("/", include_in_schema=False)
    def root() -> RedirectResponse:
        return RedirectResponse("/demo")


def _static(name: str) -> str:
    return resources.files("kefu.server").joinpath("static", name).read_text(encoding="utf-8")


def _errors(app: FastAPI) -> None:
    @app.exception_handler(KefuError)
    async def kefu_error(request: Request, exc: KefuError) -> JSONResponse:
        headers = {"Retry-After": str(int(exc.retry_after) + 1)} if isinstance(exc, RateLimitError) else None
        if exc.status >= 500:
            log.error("request failed", extra={"fields": {"path": request.url.path, "error": str(exc)}})
        return JSONResponse(exc.to_dict(), status_code=exc.status, headers=headers)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = []
        for err in exc.errors()[:10]:
            if err.get("type") == "json_invalid":
                problems.append("the request body is not valid JSON")
                continue
            where = ".".join(str(p) for p in err.get("loc", ()) if p != "body") or "body"
            problems.append(f"{where}: {err.get('msg', 'invalid')}")
        return JSONResponse({"error": {"code": "invalid_request", "message": "; ".join(problems)}},
                            status_code=422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = {400: "invalid_request", 404: "not_found", 405: "method_not_allowed"}.get(exc.status_code,
                                                                                          "http_error")
        message = str(exc.detail)
        if message == "There was an error parsing the body":
            message = "the request body could not be parsed: send UTF-8 encoded JSON"
        return JSONResponse({"error": {"code": code, "message": message}}, status_code=exc.status_code,
                            headers=getattr(exc, "headers", None))

    @app.exception_handler(Exception)
    async def crash(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unexpected error", extra={"fields": {"path": request.url.path}})
        return JSONResponse({"error": {"code": "internal_error", "message": "the server failed to answer; "
                                       "the error is logged"}}, status_code=500)


class _BodyLimit:
    """Refuses bodies over ``limit`` bytes with 413, by Content-Length or while streaming."""

    def __init__(self, app: ASGIApp, limit: int, paths: dict[str, tuple[int, str]] | None = None) -> None:
        self.app = app
        self.limit = limit
        self.paths = paths or {}  # path -> (limit, setting): larger bodies where they are expected (audio)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit, setting = self.paths.get(scope["path"], (self.limit, "max_request_kb"))
        declared = dict(scope.get("headers") or []).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            await _too_large(send, limit, setting)
            return
        if declared is not None or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        # No Content-Length (chunked): read up to the limit first, then replay what was read.
        messages, seen = [], 0
        while True:
            message = await receive()
            messages.append(message)
            seen += len(message.get("body", b""))
            if seen > limit:
                await _too_large(send, limit, setting)
                return
            if message["type"] != "http.request" or not message.get("more_body"):
                break

        async def replay() -> dict:
            return messages.pop(0) if messages else await receive()

        await self.app(scope, replay, send)


async def _too_large(send: Send, limit: int, setting: str = "max_request_kb") -> None:
    body = (b'{"error": {"code": "too_large", "message": "the request body is over the limit of '
            + str(limit // 1024).encode() + b' KB (setting ' + setting.encode() + b')"}}')
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


class _Cors:
    """CORS for the origins bound to widget keys (any tenant's) plus ``cors_origins``.

    Never with credentials: the widget authenticates with its key, and the agent console (the only
    cookie user) is same-origin, so a page on a bound origin cannot ride an agent's session.

    Which key may be used from which origin is checked per request in ``deps.caller``.
    """

    def __init__(self, app: ASGIApp, app_ref: FastAPI) -> None:
        self.app = app
        self.ref = app_ref

    def allowed(self) -> frozenset[str]:
        stamp, origins = self.ref.state.origins_cache
        if time.monotonic() - stamp < 10:
            return origins
        svc = self.ref.state.services
        found = {o.strip().rstrip("/") for o in svc.config.cors_origins.split(",") if o.strip()}
        found |= set(svc.engine.chats.all_origins())
        origins = frozenset(found)
        self.ref.state.origins_cache = (time.monotonic(), origins)
        return origins

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        origin = headers.get(b"origin", b"").decode("latin-1").rstrip("/")
        ok = bool(origin) and origin in self.allowed()
        if scope["method"] == "OPTIONS" and headers.get(b"access-control-request-method"):
            status = 204 if ok else 403
            extra = [(b"access-control-allow-origin", origin.encode()),
                     (b"access-control-allow-methods", b"GET, POST, PUT, DELETE, OPTIONS"),
                     (b"access-control-allow-headers", CORS_HEADERS.encode()),
                     (b"access-control-max-age", b"600"), (b"vary", b"Origin")] if ok else []
            await send({"type": "http.response.start", "status": status, "headers": extra})
            await send({"type": "http.response.body", "body": b""})
            return

        async def send_with_cors(message: dict) -> None:
            if ok and message["type"] == "http.response.start":
                message.setdefault("headers", [])
                message["headers"] = list(message["headers"]) + [
                    (b"access-control-allow-origin", origin.encode()), (b"vary", b"Origin")]
            await send(message)

        await self.app(scope, receive, send_with_cors)
