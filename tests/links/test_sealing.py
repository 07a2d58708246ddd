"""Sealing SellApp keys: round trip, nothing readable at rest, a safe error on the wrong secret."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import SecretStr

from bot.errors import ConfigError, SealError
from bot.links.sealing import Sealer
from bot.store import Store

SECRET = "correct horse battery staple, 32+ chars long"
OTHER_SECRET = "a different secret of more than thirty-two chars"
API_KEY = "sk_live_0123456789abcdefXYZ-very-secret"


def test_round_trip() -> None:
    sealer = Sealer(SECRET)
    sealed = sealer.seal(API_KEY)
    opened = sealer.open(sealed)
    assert isinstance(opened, SecretStr)
    assert opened.get_secret_value() == API_KEY
    assert API_KEY not in str(opened)
    # The same secret, as a SecretStr and in a new instance, opens it too.
    assert Sealer(SecretStr(SECRET)).open(sealed).get_secret_value() == API_KEY
    assert Sealer(SECRET).open(Sealer(SECRET).seal(SecretStr(API_KEY))) == opened


def test_sealed_text_hides_the_key() -> None:
    sealer = Sealer(SECRET)
    first, second = sealer.seal(API_KEY), sealer.seal(API_KEY)
    assert first != second  # random IV
    for sealed in (first, second):
        assert API_KEY not in sealed
        assert SECRET not in sealed
    assert SECRET not in repr(sealer)


async def test_database_file_never_holds_the_raw_key(tmp_path: Path) -> None:
    db_path = tmp_path / "bridge.sqlite3"
    sealer = Sealer(SECRET)
    needle = API_KEY.encode()

    def files_bytes() -> bytes:
        """The database, its -wal and its -shm, as bytes."""
        return b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.is_file())

    def has_wal() -> bool:
        return Path(f"{db_path}-wal").exists()

    async with await Store.open(db_path) as store:
        await store.links.upsert(1, now=0.0, store_slug="shop", api_key_sealed=sealer.seal(API_KEY))
        assert has_wal()
        on_disk = files_bytes()
        assert b"shop" in on_disk  # the check can see what was written
        assert needle not in on_disk
        link = await store.links.get(1)
        assert link is not None
        assert link.api_key_sealed is not None
        assert sealer.open(link.api_key_sealed).get_secret_value() == API_KEY
    assert needle not in files_bytes()


def test_wrong_secret_raises_a_safe_seal_error() -> None:
    sealed = Sealer(SECRET).seal(API_KEY)
    with pytest.raises(SealError) as caught:
        Sealer(OTHER_SECRET).open(sealed)
    text = str(caught.value)
    assert text == "the stored SellApp key can't be opened; was SECRET_KEY changed?"
    for secret in (API_KEY, SECRET, OTHER_SECRET, sealed):
        assert secret not in text
        assert secret not in repr(caught.value)
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


@pytest.mark.parametrize("token", ["", "not a token", "gAAAAA" + "x" * 80, "é"])
def test_garbage_token_raises_seal_error(token: str) -> None:
    with pytest.raises(SealError):
        Sealer(SECRET).open(token)


def test_short_secret_is_a_config_error() -> None:
    with pytest.raises(ConfigError) as caught:
        Sealer("tiny-secret")
    assert "tiny-secret" not in str(caught.value)
