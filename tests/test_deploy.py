"""deploy/: the image, the compose file and the systemd unit agree with the settings.

No Docker engine runs here, so the files are read as text: each runs ``python -m bot``,
keeps the database where the settings say, and runs as a user that is not root.
"""

from __future__ import annotations

import configparser
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import load_settings

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"
UNIT = DEPLOY / "sellapp-bridge.service"


def dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    text = (DEPLOY / "Dockerfile").read_text()
    text = re.sub(r"\\\n", " ", text)
    pairs = []
    for raw in text.splitlines():
        line = raw.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            pairs.append((word.upper(), rest.strip()))
    return pairs


def instructions(name: str) -> list[str]:
    return [args for word, args in dockerfile() if word == name]


def docker_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for args in instructions("ENV"):
        for item in shlex.split(args):
            key, _, value = item.partition("=")
            env[key] = value
    return env


def test_image_is_slim_python_and_runs_python_m_bot() -> None:
    assert re.fullmatch(r"python:3\.1[1-9]-slim(-\w+)?", instructions("FROM")[0])
    assert instructions("CMD")[-1] == '["python", "-m", "bot"]'
    assert not instructions("ENTRYPOINT")


def test_image_runs_as_a_user_that_is_not_root() -> None:
    users = instructions("USER")
    assert users and users[-1] not in ("root", "0")
    last_user = max(i for i, (word, _) in enumerate(dockerfile()) if word == "USER")
    # Nothing after USER runs as root again, and CMD comes after it.
    assert all(word not in ("RUN",) for word, _ in dockerfile()[last_user:])


def test_database_is_on_the_data_volume() -> None:
    env = docker_env()
    assert instructions("VOLUME") == ['["/data"]']
    assert Path(env["DATABASE_PATH"]).parent == Path("/data")
    # The settings accept the image's environment as it is.
    settings = load_settings(None, **{k.lower(): v for k, v in env.items() if k.isupper()})
    assert settings.database_path == Path("/data/bridge.sqlite3")
    assert settings.health_port == int(env["HEALTH_PORT"])


def test_healthcheck_asks_healthz_on_health_port() -> None:
    (check,) = instructions("HEALTHCHECK")
    assert "/healthz" in check and "HEALTH_PORT" in check
    assert docker_env()["HEALTH_PORT"] in instructions("EXPOSE")


def test_build_context_leaves_secrets_and_local_state_out() -> None:
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text().splitlines()
    assert ignore[1] == "**"  # everything out, then only what the image needs back in
    kept = {line for line in ignore if line.startswith("!")}
    assert kept == {"!pyproject.toml", "!README.md", "!bot/**", "!cogs/**"}
    copied = " ".join(instructions("COPY"))
    assert ".env" not in copied


def test_compose_uses_env_file_and_a_volume_for_data() -> None:
    text = (DEPLOY / "docker-compose.yml").read_text()
    assert re.search(r"^\s+env_file: \.\./\.env$", text, re.M)
    assert re.search(r"^\s+dockerfile: deploy/Dockerfile$", text, re.M)
    assert re.search(r"^\s+- bridge-data:/data$", text, re.M)
    assert re.search(r"^volumes:\n\s+bridge-data:", text, re.M)
    assert re.search(r"^\s+DATABASE_PATH: /data/bridge\.sqlite3$", text, re.M)
    assert re.search(r"^\s+restart: unless-stopped$", text, re.M)


def unit() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(UNIT.read_text())
    return parser


def test_unit_runs_python_m_bot_sandboxed_with_a_state_directory() -> None:
    service = unit()["Service"]
    exec_start = shlex.split(service["ExecStart"])
    assert exec_start[0].endswith("/python") and exec_start[1:3] == ["-m", "bot"]
    assert service["User"] not in ("root", "0") or service.get("DynamicUser") == "yes"
    assert service["ProtectSystem"] == "strict"
    assert service["Restart"] == "on-failure"
    state = service["StateDirectory"]
    database = unit_environment()["DATABASE_PATH"]
    assert Path(database).parent == Path("/var/lib") / state
    assert service["WorkingDirectory"] == f"/var/lib/{state}"


def unit_environment() -> dict[str, str]:
    """Every Environment= line (configparser keeps only the last of repeated keys)."""
    env = {}
    for line in UNIT.read_text().splitlines():
        if line.startswith("Environment="):
            key, _, value = line.removeprefix("Environment=").partition("=")
            env[key] = value
    return env


def test_unit_settings_are_valid_settings() -> None:
    settings = load_settings(None, **{k.lower(): v for k, v in unit_environment().items()})
    assert settings.health_port == 8080
    assert str(settings.database_path).startswith("/var/lib/sellapp-bridge/")


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_unit_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    # verify wants ExecStart to exist: point it at this Python, keep everything else.
    text = UNIT.read_text().replace("/opt/sellapp-bridge/.venv/bin/python", sys.executable)
    copy = tmp_path / UNIT.name
    copy.write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(copy)],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Unknown key" not in result.stderr and "Unknown lvalue" not in result.stderr
