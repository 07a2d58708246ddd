"""The push settings: PUBLIC_URL must be https (http only on loopback), the rest validated."""

from __future__ import annotations

import pytest

from bot.config import load_settings
from bot.errors import ConfigError


def test_push_is_off_without_public_url() -> None:
    settings = load_settings(None)
    assert not settings.push_enabled
    assert settings.webhook_host == "0.0.0.0"
    assert settings.push_sweep_seconds == 900


@pytest.mark.parametrize(
    "url",
    ["https://bridge.example.com", "https://bridge.example.com/hooks", "http://127.0.0.1:8090"],
)
def test_public_url_accepts_https_and_loopback_http(url: str) -> None:
    settings = load_settings(None, public_url=url)
    assert settings.push_enabled


@pytest.mark.parametrize(
    "url",
    [
        "http://bridge.example.com",
        "ftp://bridge.example.com",
        "https://user:pw@bridge.example.com",
        "https://bridge.example.com/?a=1",
        "not a url",
    ],
)
def test_public_url_refuses_what_sellapp_could_not_use(url: str) -> None:
    with pytest.raises(ConfigError, match="PUBLIC_URL is not valid: expected an https URL"):
        load_settings(None, public_url=url)


@pytest.mark.parametrize(
    ("name", "value"), [("webhook_port", 0), ("webhook_port", 70000), ("push_sweep_seconds", 0)]
)
def test_bad_push_numbers_name_the_setting(name: str, value: int) -> None:
    with pytest.raises(ConfigError, match=name.upper()):
        load_settings(None, **{name: value})


def test_the_signing_secret_never_prints() -> None:
    settings = load_settings(None, sellapp_webhook_secret="whsec_do_not_print_0123")
    assert "whsec_do_not_print" not in repr(settings)
