"""The one wiring place: every secret in the settings is kept out of the logs."""

from __future__ import annotations

from pydantic import SecretStr

from bot.config import Settings
from bot.services import secret_registry


def test_every_secret_setting_is_scrubbed_from_log_text() -> None:
    """Review: the webhook signing secret was lost from the registry when the wiring
    moved into bot/services.py, so a log line could show it."""
    values = {
        "discord_token": "MTE2.token-value.SECRET-discord",
        "sellapp_api_key": "sellapp-key-SECRET-1",
        "secret_key": "s" * 40,
        "sellapp_webhook_secret": "whsec-SECRET-signing",
        "database_url": "postgresql://bridge:pg-SECRET-password@db.example.com/bridge",
    }
    settings = Settings.model_validate({name: SecretStr(v) for name, v in values.items()})
    registry = secret_registry(settings)
    line = "told: " + " | ".join(values.values())
    scrubbed = registry.scrub(line)
    for value in values.values():
        assert value not in scrubbed
    # The password alone too (a driver's error may quote it without the URL).
    assert "pg-SECRET-password" not in registry.scrub("password pg-SECRET-password refused")
    # Every SecretStr field of Settings is one of them: a new secret setting must be added.
    secret_fields = {
        name
        for name, field in Settings.model_fields.items()
        if "SecretStr" in str(field.annotation)
    }
    assert secret_fields == set(values)
