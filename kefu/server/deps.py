"""FastAPI dependencies: the per-app services and who is calling."""
from __future__ import annotations

import re
from dataclasses import dataclass

from fastapi import Depends, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer

from kefu.config import Config
from kefu.dialog.service import ChatService
from kefu.engine import Engine
from kefu.errors import InputError
from kefu.server.auth import (
    SESSION_PREFIX,
    AuthError,
    ForbiddenError,
    Principal,
    RateLimiter,
    digest,
    resolve_key,
    resolve_session,
)
from kefu.server.live import Live

TENANT_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")
SESSION_COOKIE = "kefu_session"
_bearer = HTTPBearer(auto_error=False, description="An API key (ka_…, kw_…), the root key, or an agent "
                     "session token (ks_…)")
_key_header = APIKeyHeader(name="X-Kefu-Key", auto_error=False, description="A widget or admin API key")


@dataclass
class Services:
    config: Config
    engine: Engine
    limiter: RateLimiter
    live: Live

    @property
    def chat(self) -> ChatService:
        return self.engine.service


def services(request: Request) -> Services:
    return request.app.state.services


def client_ip(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _credential(request: Request, bearer: HTTPAuthorizationCredentials | None, header: str | None) -> str | None:
    if bearer is not None:
        return bearer.credentials
    if header:
        return header
    # EventSource cannot send headers: the widget passes its (public) key as ?key=.
    return request.query_params.get("key") or None


def caller(request: Request, bearer: HTTPAuthorizationCredentials | None = Depends(_bearer),
           header: str | None = Depends(_key_header), svc: Services = Depends(services)) -> Principal:
    """Any valid credential: API key, root key, or agent session (cookie or bearer).

    Signed-in agents are limited per session, not per address: one office network holds many.
    """
    raw = _credential(request, bearer, header)
    if raw is None and request.cookies.get(SESSION_COOKIE):
        raw = request.cookies[SESSION_COOKIE]
    if not (raw or "").startswith(SESSION_PREFIX):
        svc.limiter.hit("ip:" + client_ip(request), svc.config.rate_limit_ip_per_min, "client address")
    if not raw:
        raise AuthError("an API key is required (Authorization: Bearer KEY or X-Kefu-Key: KEY)")
    if len(raw) > 200:
        raise AuthError("the API key is not valid")
    chats = svc.engine.chats
    who = resolve_session(chats, raw) if raw.startswith(SESSION_PREFIX) else resolve_key(chats, raw)
    svc.limiter.hit("key:" + digest(raw)[:24], svc.config.rate_limit_key_per_min, "API key")
    origin = request.headers.get("origin")
    if who.kind == "widget" and origin and who.origins and origin.rstrip("/") not in who.origins:
        raise ForbiddenError(f"this widget key is not allowed on {origin[:100]}")
    if who.kind == "root":
        tenant = request.headers.get("x-kefu-tenant") or svc.config.tenant
        if not TENANT_RE.fullmatch(tenant):
            raise InputError("X-Kefu-Tenant must be 1-64 letters, digits, '.', '_' or '-'")
        who = Principal(tenant, "root", "root")
    return who


def customer(who: Principal = Depends(caller)) -> Principal:
    """A widget key, an admin key or the root key (customer-facing endpoints)."""
    if who.kind == "agent":
        raise ForbiddenError("agent sessions use the /v1/agent endpoints")
    return who


def admin(who: Principal = Depends(caller)) -> Principal:
    if who.kind not in ("admin", "root"):
        raise ForbiddenError("this needs an admin API key")
    return who


def agent(who: Principal = Depends(caller)) -> Principal:
    if who.kind != "agent":
        raise ForbiddenError("sign in as an agent first (POST /v1/agent/login)")
    return who
