"""Logging: readable or JSON lines, and no secret in any of it."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from bot.ops.logs import REDACTED, SecretRegistry, setup_logging

SECRET = "sk_live_log_secret_0123456789"


@pytest.fixture
def captured() -> Iterator[tuple[io.StringIO, SecretRegistry]]:
    root = logging.getLogger()
    saved = (list(root.handlers), root.level)
    stream = io.StringIO()
    secrets = SecretRegistry()
    secrets.add(SECRET, "short")
    try:
        yield stream, secrets
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])


def test_secrets_are_scrubbed_everywhere_in_text_lines(
    captured: tuple[io.StringIO, SecretRegistry],
) -> None:
    stream, secrets = captured
    setup_logging("INFO", "text", secrets, stream=stream)
    log = logging.getLogger("bot.test")
    log.info("key %s in args", SECRET)
    log.info(f"key {SECRET} in the message")  # noqa: G004 (the point of the test)
    try:
        raise RuntimeError(f"failed with {SECRET}")
    except RuntimeError:
        log.exception("with a traceback")
    out = stream.getvalue()
    assert SECRET not in out
    assert out.count(REDACTED) == 3
    log.info("a short word stays")
    assert "a short word stays" in stream.getvalue()  # values under 8 chars aren't secrets


def test_json_lines_parse_and_carry_extras_without_secrets(
    captured: tuple[io.StringIO, SecretRegistry],
) -> None:
    stream, secrets = captured
    setup_logging("INFO", "json", secrets, stream=stream)
    log = logging.getLogger("bot.test")
    log.info("poll done", extra={"guild_id": 42, "note": f"key={SECRET}"})
    log.warning("plain")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["message"] for line in lines] == ["poll done", "plain"]
    assert lines[0]["guild_id"] == 42
    assert lines[0]["level"] == "INFO" and lines[1]["level"] == "WARNING"
    assert SECRET not in stream.getvalue()
    assert lines[0]["note"] == f"key={REDACTED}"


def test_httpx_request_lines_are_quiet(captured: tuple[io.StringIO, SecretRegistry]) -> None:
    stream, secrets = captured
    setup_logging("DEBUG", "text", secrets, stream=stream)
    logging.getLogger("httpx").info("HTTP Request: GET https://sell.app/api/v1/tickets")
    assert "HTTP Request" not in stream.getvalue()
