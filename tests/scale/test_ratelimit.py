"""Rate limits: one counter interface, in this process or in PostgreSQL (shared by replicas)."""
from __future__ import annotations

import threading

import pytest
from fastapi.testclient import TestClient

from kefu.config import Config
from kefu.engine import Engine
from kefu.server.app import create_app
from kefu.server.auth import RateLimiter, RateLimitError, new_key
from kefu.server.ratelimit import MemoryCounter, counter_for
from kefu.store.pg_ratelimit import PostgresRateCounter
from kefu.store.postgres_chats import PostgresChatStore

pytestmark = pytest.mark.postgres


@pytest.fixture(params=["memory", "postgres"])
def counter(request):
    if request.param == "memory":
        c = MemoryCounter()
    else:
        c = PostgresRateCounter(request.getfixturevalue("database"))
    yield c
    c.close()


def test_counts_per_name_and_window(counter):
    assert [counter.incr("key:a", 100) for _ in range(3)] == [1, 2, 3]
    assert counter.incr("key:b", 100) == 1
    assert counter.incr("key:a", 101) == 1  # a new window starts from one
    assert counter.incr("key:a", 101) == 2


def test_concurrent_hits_are_all_counted(counter):
    def hammer():
        for _ in range(25):
            counter.incr("ip:10.0.0.1", 7)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.incr("ip:10.0.0.1", 7) == 101


def test_limiter_raises_over_the_limit(counter):
    limiter = RateLimiter(counter)
    for _ in range(3):
        limiter.hit("key:x", 3, "API key")
    with pytest.raises(RateLimitError) as err:
        limiter.hit("key:x", 3, "API key")
    assert err.value.status == 429 and 0 < err.value.retry_after <= 60
    limiter.hit("key:y", 3, "API key")  # other names are not affected
    limiter.hit("key:x", 0, "API key")  # 0 = no limit


def test_replicas_share_one_limit(database):
    a, b = RateLimiter(PostgresRateCounter(database)), RateLimiter(PostgresRateCounter(database))
    try:
        for limiter in (a, b, a, b):
            limiter.hit("key:shared", 4, "API key")
        for limiter in (a, b):
            with pytest.raises(RateLimitError):
                limiter.hit("key:shared", 4, "API key")
    finally:
        a.close()
        b.close()


def test_old_windows_are_pruned(database):
    counter = PostgresRateCounter(database, prune_seconds=0)
    try:
        for window in (10, 11, 12, 13):
            counter.incr("key:p", window)
        import psycopg

        with psycopg.connect(database) as conn:
            kept = sorted(r[0] for r in conn.execute("SELECT window_start FROM rate_limits"))
        assert kept == [12, 13]  # the current window and the one before
    finally:
        counter.close()


def test_counter_follows_the_chat_store(database, tmp_path):
    from kefu.store.sqlite_chats import SQLiteChatStore

    sqlite = SQLiteChatStore(tmp_path / "chats.db")
    pg = PostgresChatStore(database)
    try:
        assert isinstance(counter_for(sqlite), MemoryCounter)
        shared = counter_for(pg)
        assert isinstance(shared, PostgresRateCounter)
        shared.close()
    finally:
        sqlite.close()
        pg.close()


def test_two_apps_on_one_database_enforce_one_key_limit(database, tmp_path, hash_embedder):
    """Two server replicas (two apps, two engines) on PostgreSQL: the key's limit is shared."""
    apps, engines = [], []
    for n in range(2):
        config = Config.load(tmp_path / f"home{n}", env={}, overrides={
            "database_url": database, "embedder": "hash", "rate_limit_ip_per_min": 0,
            "rate_limit_key_per_min": 6})
        engine = Engine(config)
        engine.__dict__["embedder"] = hash_embedder
        engines.append(engine)
        apps.append(create_app(config, engine))
    raw, _ = new_key(engines[0].chats, "acme", "admin", label="ops")
    try:
        with TestClient(apps[0]) as one, TestClient(apps[1]) as two:
            codes = [c.get("/v1/admin/keys", headers={"Authorization": f"Bearer {raw}"}).status_code
                     for c in (one, two) * 4]
        assert codes == [200] * 6 + [429, 429]
    finally:
        for engine in engines:
            engine.close()
