"""Who is calling: API keys (admin, widget), agent sessions, the root key; and rate limits.

Keys and session tokens are random and stored only as SHA-256 hashes; agent passwords are
hashed with scrypt (stdlib ``hashlib``) and a per-password salt.
"""
from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from kefu.config import Secret
from kefu.errors import InputError, KefuError
from kefu.server.ratelimit import Counter, MemoryCounter
from kefu.store.chats import KEY_KINDS, ApiKey, ChatStore

ROOT_KEY = Secret("KEFU_ADMIN_KEY")
KEY_PREFIX = {"admin": "ka_", "widget": "kw_"}
SESSION_PREFIX = "ks_"
AGENT_ROLES = ("agent", "supervisor")


class AuthError(KefuError):
    """Missing or invalid credentials."""

    code = "unauthorized"
    status = 401


class ForbiddenError(KefuError):
    """Valid credentials that may not do this (wrong kind of key, origin not allowed)."""

    code = "forbidden"
    status = 403


class RateLimitError(KefuError):
    """Too many requests; ``retry_after`` seconds until the next one is accepted."""

    code = "rate_limited"
    status = 429

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Principal:
    tenant: str
    kind: str  # root | admin | widget | agent
    name: str = ""
    origins: tuple[str, ...] = ()


def digest(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def new_key(chats: ChatStore, tenant: str, kind: str, *, label: str = "",
            origins: list[str] | None = None) -> tuple[str, ApiKey]:
    """Create a key; the raw key is returned once and never stored."""
    if kind not in KEY_KINDS:
        raise InputError(f"key kind {kind!r} is not one of {', '.join(KEY_KINDS)}")
    origins = [o.rstrip("/") for o in (origins or [])]
    for origin in origins:
        if not origin.startswith(("http://", "https://")) or " " in origin:
            raise InputError(f"origin {origin!r} must look like https://shop.example.com")
    raw = KEY_PREFIX[kind] + secrets.token_urlsafe(24)
    key = chats.add_key(ApiKey(tenant, kind, digest(raw), label[:100], origins))
    return raw, key


def hash_password(password: str) -> str:
    if not isinstance(password, str) or len(password) < 8:
        raise InputError("the password must have at least 8 characters")
    if len(password) > 256:
        raise InputError("the password must have at most 256 characters")
    salt = secrets.token_bytes(16)
    dk = hashlib.scrypt(password.encode(), salt=salt, n=2**14, r=8, p=1)
    return f"scrypt$16384$8$1${salt.hex()}${dk.hex()}"


def check_password(password: str, stored: str) -> bool:
    try:
        _, n, r, p, salt, dk = stored.split("$")
        got = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), dk)


def resolve_key(chats: ChatStore, raw: str) -> Principal:
    """The principal for an API key (or the root key from ``KEFU_ADMIN_KEY``)."""
    root = ROOT_KEY.resolve()
    if root and hmac.compare_digest(raw.encode(), root.encode()):
        return Principal("", "root", "root")
    key = chats.find_key(digest(raw))
    if key is None:
        raise AuthError("the API key is not valid")
    return Principal(key.tenant, key.kind, key.label or f"key {key.id}", tuple(key.origins))


def start_session(chats: ChatStore, tenant: str, username: str, password: str, hours: float) -> str:
    agent = chats.get_agent(tenant, username)
    # Same work and same answer whether the user exists or not.
    ok = check_password(password, agent.password_hash if agent else
                        "scrypt$16384$8$1$00$00")
    if agent is None or not ok:
        raise AuthError("wrong tenant, username or password")
    token = SESSION_PREFIX + secrets.token_urlsafe(32)
    chats.add_session(digest(token), tenant, username, time.time() + hours * 3600)
    return token


def resolve_session(chats: ChatStore, token: str) -> Principal:
    found = chats.get_session(digest(token))
    if found is None:
        raise AuthError("the session has expired or is not valid; sign in again")
    return Principal(found[0], "agent", found[1])


class RateLimiter:
    """Fixed one-minute windows per name (an API key or a client address).

    Counted by ``counter``: in this process by default; ``kefu.server.ratelimit.counter_for`` gives
    replicas on one PostgreSQL a shared counter, so they enforce one limit together.
    """

    def __init__(self, counter: Counter | None = None, max_names: int = 100_000) -> None:
        self.counter: Counter = counter if counter is not None else MemoryCounter(max_names)

    def hit(self, name: str, per_minute: int, what: str) -> None:
        if per_minute <= 0:
            return
        now = time.time()
        count = self.counter.incr(name, int(now // 60))
        if count > per_minute:
            raise RateLimitError(f"too many requests for this {what}: the limit is {per_minute} a minute",
                                 retry_after=round(60 - now % 60, 1))

    def close(self) -> None:
        self.counter.close()
