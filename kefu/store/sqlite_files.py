"""Opening and migrating the SQLite files the stores keep (shared by the knowledge and chat stores)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from kefu.errors import StoreError


def open_sqlite(path: Path, migrations: tuple[str, ...], *, foreign_keys: bool = False) -> sqlite3.Connection:
    """A WAL connection to ``path`` (folders created), migrated to the last of ``migrations``.

    ``PRAGMA user_version`` records how many migrations ran; each runs in its own transaction.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        db = sqlite3.connect(str(path), check_same_thread=False, timeout=30, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        if foreign_keys:
            db.execute("PRAGMA foreign_keys=ON")
        db.execute("PRAGMA synchronous=NORMAL")
        version = db.execute("PRAGMA user_version").fetchone()[0]
    except sqlite3.DatabaseError as exc:
        raise StoreError(f"{path}: cannot open as a SQLite database: {exc}") from exc
    for number, script in enumerate(migrations[version:], start=version + 1):
        try:
            db.executescript(f"BEGIN; {script}; PRAGMA user_version = {number}; COMMIT;")
        except sqlite3.DatabaseError as exc:
            db.rollback()
            raise StoreError(f"{path}: migration {number} failed: {exc}") from exc
    return db
