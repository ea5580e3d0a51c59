"""Deployment files that cannot rot: compose.yaml, the Dockerfile and docs/deploy.md.

No Docker engine is needed: the files are parsed and checked against what pond
really has (its settings, its commands from `--help`, its routes, its default
port), and the commands run the real CLI in a subprocess.
"""

from __future__ import annotations

import fnmatch
import inspect
import json
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from pond.api.app import create_app
from pond.cli.server_commands import serve
from pond.settings import ENV_PREFIX, Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "compose.yaml"
DOCKERFILE = ROOT / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"
DEPLOY_DOC = ROOT / "docs" / "deploy.md"

SERVICES = {"postgres", "minio", "createbucket", "migrate", "api", "worker"}
POND_SERVICES = ["migrate", "api", "worker"]  # those that run the image of the Dockerfile
POND_VARIABLE = re.compile(r"\bPOND_[A-Z0-9_]+\b")
# ${NAME}, ${NAME:-default} and ${NAME-default}, as compose interpolates them.
INTERPOLATION = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")
EVERY_INTERFACE = "0.0.0.0"  # noqa: S104  # what a server in a container must listen on
SETTING_NAMES = {ENV_PREFIX + name.upper() for name in Settings.model_fields}


# --- reading the files -------------------------------------------------------


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return loaded


def pond_services() -> dict[str, dict[str, Any]]:
    """The services that run the image built from the Dockerfile."""
    return {name: s for name, s in compose()["services"].items() if "build" in s}


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        logical.append(pending + stripped)
        pending = ""
    assert not pending, "the Dockerfile ends inside a continued line"
    pairs = []
    for text in logical:
        keyword, _, rest = text.partition(" ")
        pairs.append((keyword.upper(), rest.strip()))
    return pairs


def instruction(name: str) -> list[str]:
    return [rest for keyword, rest in dockerfile_instructions() if keyword == name]


def exec_form(arguments: str) -> list[str]:
    """The JSON array of an exec-form instruction (CMD, ENTRYPOINT, HEALTHCHECK CMD)."""
    parsed = json.loads(arguments)
    assert isinstance(parsed, list), f"not in exec form: {arguments}"
    return [str(part) for part in parsed]


def dockerfile_env() -> dict[str, str]:
    env: dict[str, str] = {}
    for rest in instruction("ENV"):
        for pair in shlex.split(rest):
            key, sep, value = pair.partition("=")
            assert sep, f"ENV without '=' (the legacy form): {rest}"
            env[key] = value
    return env


def interpolate(value: object) -> str:
    """A compose value with every ${NAME:-default} replaced by its default."""

    def default(match: re.Match[str]) -> str:
        assert match[2] is not None, f"${{{match[1]}}} has no default in compose.yaml"
        return match[2]

    return INTERPOLATION.sub(default, str(value))


def pond_commands() -> dict[str, list[str]]:
    """Each `pond ...` command line the deployment files run, by where it comes from."""
    entrypoint = exec_form(instruction("ENTRYPOINT")[-1])
    commands = {"Dockerfile CMD": [*entrypoint, *exec_form(instruction("CMD")[-1])]}
    for name, service in pond_services().items():
        assert isinstance(service["command"], list), f"{name}: write the command as a list"
        commands[f"compose {name}"] = [*entrypoint, *service["command"]]
    return commands


def healthcheck_urls() -> dict[str, str]:
    """The URLs the health checks ask for, by where they are."""
    urls = {}
    for rest in instruction("HEALTHCHECK"):
        urls["Dockerfile"] = " ".join(exec_form(rest.partition("CMD")[2].strip()))
    for name, service in compose()["services"].items():
        test = service.get("healthcheck", {}).get("test")
        if test:
            urls[f"compose {name}"] = " ".join(test) if isinstance(test, list) else test
    return {
        where: match[0]
        for where, text in urls.items()
        if (match := re.search(r"https?://[^'\" ]+", text))
    }


def serve_default_port() -> int:
    option = inspect.signature(serve).parameters["port"].default
    port = option.default
    assert isinstance(port, int)
    return port


# --- compose.yaml ------------------------------------------------------------


def test_compose_has_the_documented_services() -> None:
    services = compose()["services"]
    assert set(services) == SERVICES
    assert set(pond_services()) == set(POND_SERVICES)
    assert services["postgres"]["image"].startswith("postgres:16")
    assert services["api"]["command"][:2] == ["serve", "--no-worker"]
    assert services["worker"]["command"] == ["worker"]
    assert services["migrate"]["command"] == ["db", "upgrade"]
    assert services["worker"]["deploy"]["replicas"] >= 2
    # The image's check asks the HTTP port, which a worker does not have.
    assert services["worker"]["healthcheck"] == {"disable": True}
    for one_shot in ("createbucket", "migrate"):
        assert services[one_shot]["restart"] == "no"


def test_compose_dependencies_name_real_services() -> None:
    services = compose()["services"]
    for name, service in services.items():
        for needed, condition in service.get("depends_on", {}).items():
            assert needed in services, f"{name} depends on a missing service {needed}"
            assert condition["condition"] in {
                "service_started",
                "service_healthy",
                "service_completed_successfully",
            }
            if condition["condition"] == "service_healthy":
                assert "test" in services[needed].get("healthcheck", {}), (
                    f"{name} waits for {needed} to be healthy, but it has no health check"
                )
    for name in ("api", "worker"):
        waits_for = services[name]["depends_on"]
        assert waits_for["migrate"]["condition"] == "service_completed_successfully"
        assert waits_for["createbucket"]["condition"] == "service_completed_successfully"


def test_compose_images_are_pinned() -> None:
    for name, service in compose()["services"].items():
        image = service["image"]
        assert ":" in image.rsplit("/", 1)[-1], f"{name}: pin a tag for {image}"
        assert not image.endswith(":latest"), f"{name}: pin a tag for {image}"


def test_the_bucket_created_is_the_bucket_pond_uses() -> None:
    services = compose()["services"]
    storage = urlsplit(interpolate(services["api"]["environment"]["POND_STORAGE_URL"]))
    assert storage.scheme == "s3"
    script = " ".join(services["createbucket"]["command"])
    assert f"mc mb --ignore-existing store/{storage.netloc}" in script


# --- settings ----------------------------------------------------------------


@pytest.mark.parametrize("path", [COMPOSE, DOCKERFILE], ids=lambda p: p.name)
def test_every_pond_variable_is_a_real_setting(path: Path) -> None:
    named = set(POND_VARIABLE.findall(path.read_text()))
    assert named, f"{path.name} names no POND_* variable"
    assert named - SETTING_NAMES == set()


def _clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for name in list(os.environ):
        if name.startswith(ENV_PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no stray pond.toml


@pytest.mark.parametrize("service", POND_SERVICES)
def test_compose_settings_pass_validation(
    service: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    environment = pond_services()[service]["environment"]
    for key, value in {**dockerfile_env(), **environment}.items():
        monkeypatch.setenv(key, interpolate(value))
    settings = load_settings()
    assert settings.database_url is not None
    assert settings.storage_url is not None
    assert settings.storage_url.startswith("s3://")
    assert settings.s3_endpoint_url is not None
    assert settings.public_url is not None
    assert {"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"} <= set(environment)


def test_dockerfile_settings_pass_validation(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    _clean_environment(monkeypatch, tmp_path)
    for key, value in dockerfile_env().items():
        if key.startswith(ENV_PREFIX):
            monkeypatch.setenv(key, value)
    settings = load_settings()
    assert settings.log_format == "json"


# --- commands ----------------------------------------------------------------


def _help(subcommand: list[str]) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(ENV_PREFIX)}
    env["COLUMNS"] = "200"  # no option name folded across lines
    return subprocess.run(
        [sys.executable, "-m", "pond", *subcommand, "--help"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.mark.parametrize("where", ["Dockerfile CMD", *(f"compose {s}" for s in POND_SERVICES)])
def test_every_pond_command_and_option_exists(where: str) -> None:
    program, *arguments = pond_commands()[where]
    assert program == "pond"
    first_option = next((i for i, a in enumerate(arguments) if a.startswith("-")), len(arguments))
    subcommand, options = arguments[:first_option], arguments[first_option:]
    shown = _help(subcommand)
    assert shown.returncode == 0, f"{where}: `pond {' '.join(subcommand)}` fails: {shown.stderr}"
    for option in options:
        if option.startswith("--"):
            name = re.escape(option.split("=")[0])
            assert re.search(rf"(?<![\w-]){name}(?![\w-])", shown.stdout), (
                f"{where}: `pond {' '.join(subcommand)}` has no option {option}"
            )


def test_the_image_runs_pond_listening_on_every_interface() -> None:
    assert exec_form(instruction("ENTRYPOINT")[-1]) == ["pond"]
    command = exec_form(instruction("CMD")[-1])
    assert command[0] == "serve"
    assert command[command.index("--host") + 1] == EVERY_INTERFACE
    api = compose()["services"]["api"]["command"]
    assert api[api.index("--host") + 1] == EVERY_INTERFACE


# --- ports and health --------------------------------------------------------


def test_exposed_port_is_the_default_port_of_serve() -> None:
    port = serve_default_port()
    assert instruction("EXPOSE") == [str(port)]
    command = exec_form(instruction("CMD")[-1])
    assert command[command.index("--port") + 1] == str(port)
    api = compose()["services"]["api"]
    assert api["command"][api["command"].index("--port") + 1] == str(port)
    assert any(mapping.endswith(f":{port}") for mapping in api["ports"])


def test_health_checks_ask_for_routes_the_api_has(tmp_path: Path) -> None:
    app = create_app(Settings(data_dir=tmp_path), "postgresql:///unused", run_worker=False)
    paths = {getattr(route, "path", None) for route in app.routes}
    urls = healthcheck_urls()
    assert {"Dockerfile", "compose api"} <= set(urls)
    for where, url in urls.items():
        if where in {"Dockerfile", "compose api"}:
            parts = urlsplit(url)
            assert parts.port == serve_default_port(), where
            assert parts.path in paths, f"{where} asks for {parts.path}, not a route"


# --- Dockerfile --------------------------------------------------------------


def test_dockerfile_builds_from_python_311_slim_as_a_non_root_user() -> None:
    bases = [rest.split()[0] for rest in instruction("FROM")]
    assert bases
    assert all(base == "python:3.11-slim" for base in bases)
    users = instruction("USER")
    assert users
    assert users[-1] not in {"root", "0"}
    assert any("install '.[server]'" in rest for rest in instruction("RUN"))


def _ignored(path: str, patterns: list[str]) -> bool:
    for pattern in patterns:
        bare = pattern.removeprefix("**/").rstrip("/")
        if fnmatch.fnmatch(path, bare) or path.startswith(bare + "/"):
            return True
    return False


def test_files_the_image_is_built_from_exist_and_are_in_the_context() -> None:
    patterns = [
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert not any(p.startswith("!") for p in patterns), "exceptions are not checked here"
    copied = []
    for rest in instruction("COPY"):
        if rest.startswith("--from"):
            continue
        *sources, _destination = shlex.split(rest)
        copied += sources
    assert {"pyproject.toml", "README.md", "src"} <= set(copied)
    for source in copied:
        assert (ROOT / source).exists(), f"COPY {source}: no such file"
        assert not _ignored(source, patterns), f"COPY {source}: excluded by .dockerignore"


# --- docs/deploy.md ----------------------------------------------------------


def _anchors(markdown: Path) -> set[str]:
    """GitHub's anchors for the headings of a Markdown file."""
    anchors = set()
    for line in markdown.read_text().splitlines():
        if line.startswith("#"):
            title = line.lstrip("#").strip().lower()
            slug = re.sub(r"[^\w\- ]", "", title).replace(" ", "-")
            anchors.add(slug)
    return anchors


def test_deploy_doc_links_resolve() -> None:
    text = DEPLOY_DOC.read_text()
    links = re.findall(r"\]\(([^)\s]+)\)", text)
    assert links
    for link in links:
        if link.startswith(("http://", "https://")):
            continue
        target, _, anchor = link.partition("#")
        path = (DEPLOY_DOC.parent / target).resolve() if target else DEPLOY_DOC
        assert path.exists(), f"docs/deploy.md links to a missing {target}"
        if anchor:
            assert anchor in _anchors(path), f"docs/deploy.md links to a missing #{anchor}"


def test_deploy_doc_names_only_real_variables() -> None:
    client_source = "".join(p.read_text() for p in (ROOT / "src/pond/client").glob("*.py"))
    known = SETTING_NAMES | set(POND_VARIABLE.findall(client_source))
    named = set(POND_VARIABLE.findall(DEPLOY_DOC.read_text()))
    assert named - known == set()


def test_deploy_doc_is_listed_in_the_readme() -> None:
    assert "(docs/deploy.md)" in (ROOT / "README.md").read_text()
