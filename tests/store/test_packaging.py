"""The migrations ship: a wheel built from the tree holds every one of them."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

from bot.store import load_migrations

ROOT = Path(__file__).resolve().parents[2]


def test_the_built_wheel_holds_every_migration(tmp_path: Path) -> None:
    # Build from a copy so the build's scratch folders never touch the work tree (other
    # xdist workers read it), and with the venv's setuptools: no index is asked.
    source = tmp_path / "src"
    shutil.copytree(
        ROOT,
        source,
        ignore=shutil.ignore_patterns(
            ".git", ".venv", "*.egg-info", "build", "dist", "__pycache__", ".*_cache", "data"
        ),
    )
    out = tmp_path / "wheel"
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "--no-build-isolation",
            "--no-index",
            "--quiet",
            "-w",
            str(out),
            str(source),
        ],
        check=True,
        capture_output=True,
        timeout=240,
    )
    (wheel,) = out.glob("sellapp_discord_bridge-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())

    migrations = load_migrations()
    assert migrations, "the tree has no migrations to look for"
    for migration in migrations:
        assert f"bot/store/migrations/{migration.name}" in names
    own = sorted((ROOT / "bot" / "store" / "migrations" / "postgres").glob("*.sql"))
    assert own, "the tree has no PostgreSQL migrations to look for"
    for path in own:
        assert f"bot/store/migrations/postgres/{path.name}" in names
    assert "bot/py.typed" in names
