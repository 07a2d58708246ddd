"""``sellapp-bridge backup``: a consistent copy of the live database, as one SQLite file
(of the SQLite file itself, or of a PostgreSQL store: :func:`backup_postgres`)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

from bot.errors import BackupFailed


def backup_database(source: Path, target: Path) -> int:
    """Copy the live database at ``source`` to ``target`` with SQLite's online backup.

    One backup step under one read transaction: a consistent snapshot even while the bot
    writes (WAL: the bot is never blocked). Written to a temporary file, checked, switched
    to a single self-contained file (no -wal) and renamed into place. Returns the schema
    version of the copy.
    """
    if not source.is_file():
        raise BackupFailed(f"no database at {source}")
    try:
        return _copy(source, target)
    except (OSError, sqlite3.Error) as exc:
        raise BackupFailed(str(exc) or type(exc).__name__) from None


def _copy(source: Path, target: Path) -> int:
    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    src = sqlite3.connect(f"file:{source}?mode=rw", uri=True, timeout=10)
    try:
        dst = sqlite3.connect(partial)
        try:
            src.backup(dst)
            dst.execute("PRAGMA journal_mode = DELETE")
            verdict = dst.execute("PRAGMA integrity_check").fetchone()[0]
            if verdict != "ok":
                raise sqlite3.DatabaseError(f"the copy failed its integrity check: {verdict}")
            version = int(dst.execute("PRAGMA user_version").fetchone()[0])
        finally:
            dst.close()
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        src.close()
    os.replace(partial, target)
    return version


async def backup_postgres(url: str, target: Path) -> int:
    """Copy the PostgreSQL store at ``url`` to the SQLite file ``target``.

    One snapshot (a REPEATABLE READ, read-only transaction: the bot keeps writing, the copy
    sees one moment), written with the SQLite schema of the same version into a temporary
    file, checked and renamed into place. The copy is a complete bridge database: run a
    bridge on it with ``DATABASE_PATH``, or load it into an empty PostgreSQL database with
    ``sellapp-bridge migrate-to``. Returns the schema version of the copy.
    """
    from bot.store._postgres import ERRORS, PostgresDatabase  # noqa: PLC0415 (asyncpg)
    from bot.store.moving import snapshot_postgres_to_sqlite  # noqa: PLC0415

    partial = target.with_name(f".{target.name}.partial")
    partial.unlink(missing_ok=True)
    db = await PostgresDatabase.connect(url)
    try:
        version = await snapshot_postgres_to_sqlite(db, partial)
        with sqlite3.connect(partial) as check:
            verdict = check.execute("PRAGMA integrity_check").fetchone()[0]
        if verdict != "ok":
            raise BackupFailed(f"the copy failed its integrity check: {verdict}")
    except (*ERRORS, sqlite3.Error) as exc:
        partial.unlink(missing_ok=True)
        raise BackupFailed(str(exc) or type(exc).__name__) from None
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    finally:
        await db.close()
    os.replace(partial, target)
    return version
