"""Sealing SellApp API keys for storage: Fernet (AES-128-CBC + HMAC-SHA256), keyed by SECRET_KEY.

The Fernet key is derived from ``SECRET_KEY`` with HKDF-SHA256 and a fixed ``info``
string, so any string of at least 32 characters works as a secret and the same
secret always opens what it sealed. Neither the secret nor an API key is ever logged
or put into an exception.
"""

from __future__ import annotations

import base64
from typing import Final

from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from pydantic import SecretStr

from bot.errors import ConfigError, SealError

__all__ = ["MIN_SECRET_LENGTH", "Sealer"]

MIN_SECRET_LENGTH: Final = 32
_HKDF_INFO: Final = b"sellapp-discord-bridge/sealed-api-key/v1"
_OPEN_FAILED: Final = "the stored SellApp key can't be opened; was SECRET_KEY changed?"


class Sealer:
    """Seals and opens SellApp API keys with a key derived from ``SECRET_KEY``."""

    __slots__ = ("_fernet",)

    def __init__(self, secret_key: SecretStr | str) -> None:
        secret = secret_key.get_secret_value() if isinstance(secret_key, SecretStr) else secret_key
        if len(secret) < MIN_SECRET_LENGTH:
            raise ConfigError(
                f"SECRET_KEY is too short: expected at least {MIN_SECRET_LENGTH} characters."
            )
        derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
            secret.encode("utf-8")
        )
        self._fernet = Fernet(base64.urlsafe_b64encode(derived))

    def __repr__(self) -> str:
        return "Sealer(<secret>)"

    def seal(self, api_key: str | SecretStr) -> str:
        """The sealed form of ``api_key``: URL-safe ASCII, different every call."""
        raw = api_key.get_secret_value() if isinstance(api_key, SecretStr) else api_key
        return self._fernet.encrypt(raw.encode("utf-8")).decode("ascii")

    def open(self, token: str) -> SecretStr:
        """The API key sealed in ``token``. Raises :class:`SealError` if it can't be opened."""
        try:
            raw = self._fernet.decrypt(token.encode("utf-8"))
        except (InvalidToken, ValueError, TypeError):
            raise SealError(_OPEN_FAILED) from None
        return SecretStr(raw.decode("utf-8"))
