"""The layout holds: engines and the store never import discord; SQL and SellApp's HTTP
each have one owner. A newcomer can trust the folder names."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
# Where discord.py may be imported: the bot itself, the command tree, the Discord edges,
# and the operator side (check, health) that reports on Discord.
MAY_IMPORT_DISCORD = {
    "bot/app.py",
    "bot/runner.py",
    "bot/tree.py",
    "bot/permissions.py",
    "bot/inbound/discord_edge.py",
    "bot/outbound/discord_edge.py",
    "bot/triage/discord_edge.py",
    "bot/ops/commands.py",
    "bot/ops/health.py",
}


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def _modules() -> list[tuple[str, set[str]]]:
    return [
        (str(path.relative_to(ROOT)), _imports(path))
        for path in sorted((ROOT / "bot").rglob("*.py"))
    ]


def test_only_the_discord_edges_import_discord() -> None:
    offenders = [
        name
        for name, imports in _modules()
        if name not in MAY_IMPORT_DISCORD
        and any(i == "discord" or i.startswith("discord.") for i in imports)
    ]
    assert offenders == []


def test_only_the_store_speaks_sql_and_only_the_client_speaks_http() -> None:
    sql = [
        n
        for n, i in _modules()
        if {"sqlite3", "aiosqlite", "asyncpg"} & i and not n.startswith("bot/store/")
    ]
    assert sql == []
    http = [
        n
        for n, i in _modules()
        if "httpx" in i
        and n not in {"bot/sellapp/client.py", "bot/services.py", "bot/links/__init__.py"}
    ]
    assert http == []
