"""The command line: friendly failures, no tracebacks."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

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
