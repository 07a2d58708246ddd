"""deploy/: the image, the compose file and the systemd unit agree with the settings.

No Docker engine runs here, so the files are read as text: each runs ``python -m bot``,
keeps the database where the settings say, and runs as a user that is not root. The
sharded compose file and the systemd template (several processes, issue 18) are checked
the same way: shards partitioned exactly, one database server, a port each.
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


# -- several processes: deploy/docker-compose.sharded.yml and deploy/sellapp-bridge@.service --

SHARDED = DEPLOY / "docker-compose.sharded.yml"
TEMPLATE = DEPLOY / "sellapp-bridge@.service"


def compose_subset(text: str) -> dict[str, object]:
    """The compose file as nested dicts and lists, read by indentation.

    No YAML parser is among the dependencies (PyYAML is not installed), so this reads the
    small subset the file is written in: ``key: value`` and ``key:`` mappings, ``- item``
    lists of scalars, ``"quoted"`` scalars, flow lists ``[...]`` left as text, comments. It
    raises on anything else (anchors, merge keys, flow mappings, multi-line scalars), so the
    file stays in the subset these tests can check.
    """
    root: dict[str, object] = {}
    stack: list[tuple[int, dict[str, object] | list[object]]] = [(-1, root)]
    pending: tuple[int, dict[str, object], str] | None = None  # a "key:" awaiting its block
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.split(" #")[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not line.strip():
            continue
        indent = len(line) - len(line.lstrip(" "))
        body = line.strip()
        if pending is not None:
            p_indent, parent, key = pending
            if indent <= p_indent:
                parent[key] = None  # "key:" alone, as a named volume is declared
            else:
                block: dict[str, object] | list[object] = [] if body.startswith("- ") else {}
                parent[key] = block
                stack.append((p_indent, block))
            pending = None
        while stack[-1][0] >= indent:
            stack.pop()
        container = stack[-1][1]
        if body.startswith("- "):
            if not isinstance(container, list):
                raise ValueError(f"line {number}: a list item outside a list")
            container.append(_scalar(body[2:], number))
            continue
        key, sep, value = body.partition(":")
        if not sep or key.strip() == "<<" or not isinstance(container, dict):
            raise ValueError(f"line {number}: expected key: value, got {body!r}")
        if value.strip():
            container[key.strip()] = _scalar(value.strip(), number)
        else:
            pending = (indent, container, key.strip())
    if pending is not None:
        pending[1][pending[2]] = None
    return root


def _scalar(value: str, number: int = 0) -> str:
    if value[0] in "&*{|>!":  # anchors, aliases, flow mappings, block scalars, tags
        raise ValueError(f"line {number}: outside the subset: {value!r}")
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def sharded() -> dict[str, dict[str, object]]:
    services = compose_subset(SHARDED.read_text())["services"]
    assert isinstance(services, dict)
    return services  # type: ignore[return-value]


def bridges() -> dict[str, dict[str, str]]:
    """Each bridge service's ``environment``."""
    found = {}
    for name, service in sharded().items():
        if name != "postgres":
            env = service["environment"]
            assert isinstance(env, dict), name
            found[name] = env
    return found


def shard_list(value: str) -> list[int]:
    return [int(part) for part in value.split(",")]


def settings_fields() -> set[str]:
    from bot.config import Settings

    return {name.upper() for name in Settings.model_fields}


def test_compose_subset_reader_refuses_what_it_cannot_read() -> None:
    """The reader behind the sharded compose checks fails loudly, not quietly."""
    assert compose_subset("a:\n  b: 'x'\n  c:\n    - 1\nv:\n  d:\n") == {
        "a": {"b": "x", "c": ["1"]},
        "v": {"d": None},
    }
    for text in ("x: &anchor\n  a: 1\n", "x:\n  <<: *anchor\n", "x: {a: 1}\n", "x: |\n  a\n"):
        with pytest.raises(ValueError):
            compose_subset(text)


def test_sharded_compose_has_postgres_with_a_volume_and_a_healthcheck() -> None:
    """Read as text (no Docker engine here): the official image, data on a named volume."""
    postgres = sharded()["postgres"]
    assert re.fullmatch(r"postgres:\d+(\.\d+)?", str(postgres["image"]))
    volumes = postgres["volumes"]
    assert isinstance(volumes, list)
    (volume,) = volumes
    name, _, target = str(volume).partition(":")
    assert target == "/var/lib/postgresql/data"
    top = compose_subset(SHARDED.read_text())["volumes"]
    assert isinstance(top, dict) and name in top
    check = postgres["healthcheck"]
    assert isinstance(check, dict) and "pg_isready" in str(check["test"])
    env = postgres["environment"]
    assert isinstance(env, dict)
    assert env["POSTGRES_PASSWORD"].startswith("${POSTGRES_PASSWORD:?")  # never in the file


def test_sharded_compose_shards_partition_the_shard_count() -> None:
    """Every bridge has the same SHARD_COUNT, and their SHARD_IDS cover 0..SHARD_COUNT-1
    exactly once (no shard run twice, none left out)."""
    services = bridges()
    assert len(services) >= 2
    counts = {env["SHARD_COUNT"] for env in services.values()}
    assert len(counts) == 1, counts
    count = int(counts.pop())
    ran = [shard for env in services.values() for shard in shard_list(env["SHARD_IDS"])]
    assert sorted(ran) == list(range(count)), ran


def test_sharded_compose_bridges_share_postgres_and_own_their_ports() -> None:
    """All bridges on the postgres service (started once it is healthy), each its own
    health port published on loopback, the same image, settings from .env."""
    ports = []
    for name, service in sharded().items():
        if name == "postgres":
            continue
        env = service["environment"]
        assert isinstance(env, dict)
        url = env["DATABASE_URL"]
        assert re.fullmatch(
            r"postgresql://bridge:\$\{POSTGRES_PASSWORD\}@postgres:5432/bridge", url
        )
        assert service["depends_on"] == {"postgres": {"condition": "service_healthy"}}, name
        assert service["env_file"] == "../.env"
        assert service["image"] == "sellapp-discord-bridge:latest"
        assert service["restart"] == "unless-stopped"
        port = env["HEALTH_PORT"]
        assert service["ports"] == [f"127.0.0.1:{port}:{port}"], name
        ports.append(port)
    assert len(set(ports)) == len(ports), ports


def test_sharded_compose_and_template_use_only_known_settings() -> None:
    """Every key the bridges get is a Settings field (read from bot.config, so a renamed
    field fails here); and the values are
    accepted by the settings as they are."""
    fields = settings_fields()
    used = {key for env in bridges().values() for key in env}
    used |= set(template_environment())
    assert used <= fields, used - fields
    for env in bridges().values():
        values = {k.lower(): v.replace("${POSTGRES_PASSWORD}", "pw") for k, v in env.items()}
        load_settings(None, **values)


def template() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(strict=False, interpolation=None, delimiters=("=",))
    parser.optionxform = str  # type: ignore[assignment,method-assign]
    parser.read_string(TEMPLATE.read_text())
    return parser


def template_environment() -> dict[str, str]:
    env = {}
    for line in TEMPLATE.read_text().splitlines():
        if line.startswith("Environment="):
            key, _, value = line.removeprefix("Environment=").partition("=")
            env[key] = value
    return env


def test_template_takes_shard_ids_from_the_instance_name() -> None:
    """sellapp-bridge@0 runs SHARD_IDS=0; %I is the unescaped name, so
    sellapp-bridge@0\\x2c1 (systemd-escape 0,1) runs SHARD_IDS=0,1."""
    assert template_environment()["SHARD_IDS"] == "%I"
    service = template()["Service"]
    # Its own port file per instance; settings shared with the single unit.
    assert service["EnvironmentFile"] == "/etc/sellapp-bridge/shard-%I.env"
    assert "HEALTH_PORT" not in template_environment()
    assert shlex.split(service["ExecStart"])[-2:] == ["--env-file", "/etc/sellapp-bridge/env"]


def test_template_is_the_single_unit_hardened_the_same_way() -> None:
    """Same user, sandbox, restarts and start command as deploy/sellapp-bridge.service;
    only the description, SHARD_IDS and the per-instance port differ."""
    single, many = unit()["Service"], template()["Service"]
    differs = {"Environment", "EnvironmentFile"}
    assert {k: v for k, v in single.items() if k not in differs} == {
        k: v for k, v in many.items() if k not in differs
    }
    assert unit_environment().items() - {("HEALTH_PORT", "8080")} <= template_environment().items()
    assert dict(unit()["Install"]) == dict(template()["Install"])


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze")
def test_template_instance_passes_systemd_analyze_verify(tmp_path: Path) -> None:
    text = TEMPLATE.read_text().replace("/opt/sellapp-bridge/.venv/bin/python", sys.executable)
    for name in (TEMPLATE.name, "sellapp-bridge@0.service"):
        (tmp_path / name).write_text(text)
    result = subprocess.run(
        ["systemd-analyze", "verify", str(tmp_path / "sellapp-bridge@0.service")],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "Unknown key" not in result.stderr and "Unknown lvalue" not in result.stderr
