"""The command line: friendly failures, no tracebacks."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k.lower() not in Settings.model_fields}
    env.update(extra)
    return env


def _run(*args: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bot", *args],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_no_token_explains_what_to_set_and_exits_2(tmp_path: Path) -> None:
    result = _run(env=_clean_env(PYTHONPATH=str(ROOT)), cwd=tmp_path)
    assert result.returncode == 2
    assert "DISCORD_TOKEN" in result.stderr
    assert ".env.example" in result.stderr
    assert "make demo" in result.stderr  # issue 12: a way to see it work without one
    assert "Traceback" not in result.stderr


def test_bad_setting_is_one_line_and_exit_2(tmp_path: Path) -> None:
    env = _clean_env(PYTHONPATH=str(ROOT), DISCORD_TOKEN="x.y.z", POLL_INTERVAL_SECONDS="0")
    result = _run(env=env, cwd=tmp_path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert "POLL_INTERVAL_SECONDS" in lines[0]
    assert "x.y.z" not in result.stderr


def test_env_file_in_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("LOG_LEVEL=verbose\n")
    result = _run(env=_clean_env(PYTHONPATH=str(ROOT)), cwd=tmp_path)
    assert result.returncode == 2
    assert "LOG_LEVEL is not valid" in result.stderr


def _unusable_database(tmp_path: Path, kind: str) -> tuple[Path, str]:
    """A DATABASE_PATH that fails even for root (tests run as root: chmod stops nothing),
    and the words the one line must say."""
    if kind == "under a file":
        (tmp_path / "file.txt").write_text("not a folder")
        folder = tmp_path / "file.txt" / "sub"
        return folder / "db.sqlite3", f"cannot create the database folder {folder}: not a directory"
    if kind == "a folder":
        (tmp_path / "data").mkdir()
        path = tmp_path / "data"
        return path, f"cannot open the database {path}: it is a folder"
    if kind == "not a database":
        path = tmp_path / "notes.sqlite3"
        path.write_bytes(b"these are my notes, not a database\n" * 200)
        return path, f"cannot open the database {path}: the file is not an SQLite database"
    path = tmp_path / "newer.sqlite3"
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 999")
    return path, f"The database {path} was written by a newer version of the bridge"


@pytest.mark.parametrize("kind", ["under a file", "a folder", "not a database", "newer"])
def test_unusable_database_path_is_one_line_and_exit_2_not_a_traceback(
    tmp_path: Path, kind: str
) -> None:
    """Issue 12, item 2: a DATABASE_PATH that could not be created or opened ended in a raw
    sqlite3.OperationalError / OSError traceback, exit status 1, without the path."""
    path, words = _unusable_database(tmp_path, kind)
    env = _clean_env(PYTHONPATH=str(ROOT), DISCORD_TOKEN="x.y.z", DATABASE_PATH=str(path))

    run = _run("run", env=env, cwd=tmp_path)
    assert run.returncode == 2, run.stderr
    lines = run.stderr.strip().splitlines()
    assert len(lines) == 1, run.stderr
    assert lines[0].startswith("sellapp-bridge: ") and words in lines[0]
    assert "Traceback" not in run.stderr + run.stdout
    assert "x.y.z" not in run.stderr + run.stdout

    check = _run("check", env=env, cwd=tmp_path)
    assert check.returncode == 2, check.stdout + check.stderr
    assert "Traceback" not in check.stderr + check.stdout
    [failed] = [line for line in check.stdout.splitlines() if line.startswith("failed")]
    assert failed.startswith(f"failed  database {path}: ") and words in failed
