"""A stored key is opened once, not on every poll; every key still never reaches a log.

At 1,000 linked guilds the bot resolves every link every few seconds (the supervisor, the
triage pass, each poll): opening each sealed key each time and re-sorting the secrets
list cost ~5% of the bot's CPU (bench/scale.py profile)."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from bot.config import load_settings
from bot.links import Links
from bot.links.sealing import Sealer
from bot.ops.logs import REDACTED, SecretRegistry
from bot.sellapp.client import make_http_client
from bot.store import Store

SECRET = "correct horse battery staple, 32+ chars long"


class CountingSealer(Sealer):
    """The real sealer, counting how often it opens a key."""

    __slots__ = ("opened",)

    def __init__(self, secret_key: str) -> None:
        super().__init__(secret_key)
        self.opened = 0

    def open(self, token: str) -> SecretStr:
        self.opened += 1
        return super().open(token)


async def test_each_stored_key_is_opened_once_and_redacted(tmp_path: Path) -> None:
    sealer = CountingSealer(SECRET)
    settings = load_settings(None, database_path=str(tmp_path / "db.sqlite3"), secret_key=SECRET)
    keys = {guild: f"sk_live_key_of_guild_{guild}_0123456789" for guild in range(1, 6)}
    async with await Store.open(settings.database_path) as store, make_http_client() as http:
        for guild, key in keys.items():
            await store.links.upsert(
                guild, now=0.0, store_slug=f"shop-{guild}", api_key_sealed=sealer.seal(key)
            )
        secrets = SecretRegistry()
        links = Links(settings, store, http, secrets, sealer)
        for _ in range(3):
            resolved = await links.all()
            assert [link.api_key for link in resolved] == [SecretStr(k) for k in keys.values()]
            assert (await links.get(3)) == resolved[2]
        assert sealer.opened == len(keys)
        for key in keys.values():
            assert secrets.scrub(f"polled with {key}") == f"polled with {REDACTED}"
        # A key linked anew (sealed afresh) is opened, and redacted, too.
        await store.links.upsert(
            3, now=1.0, store_slug="shop-3", api_key_sealed=sealer.seal("sk_live_new_key_3_abcdef")
        )
        link = await links.get(3)
        assert link is not None and link.api_key == SecretStr("sk_live_new_key_3_abcdef")
        assert sealer.opened == len(keys) + 1
        assert secrets.scrub("sk_live_new_key_3_abcdef") == REDACTED


def test_adding_a_known_secret_again_keeps_longest_first() -> None:
    secrets = SecretRegistry()
    secrets.add("sk_live_abcdefgh")
    secrets.add("sk_live_abcdefgh")  # known: nothing changes
    secrets.add("sk_live_abcdefgh_and_longer", "sk_live_abcdefgh")
    assert secrets.scrub("x sk_live_abcdefgh_and_longer y") == f"x {REDACTED} y"
    assert secrets.scrub("x sk_live_abcdefgh y") == f"x {REDACTED} y"
    secrets.add("short", None, "")
    assert secrets.scrub("short") == "short"
