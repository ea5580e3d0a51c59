"""Where credentials and endpoints come from, and that the secret never shows."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from pond.client.config import (
    DEFAULT_API_URL,
    DEFAULT_TOKEN_URL,
    Secret,
    config_path,
    read_profiles,
    resolve,
    write_profile,
)
from pond.client.errors import ConfigurationError

ENV = {"POND_CLIENT_ID": "env-id", "POND_CLIENT_SECRET": "env-secret"}


def test_defaults_are_the_hosted_endpoints(tmp_path: Path) -> None:
    config = resolve(env=ENV, config_file=tmp_path / "none.toml")
    assert config.api_url == DEFAULT_API_URL == "https://api.sgipond.com"
    assert config.token_url == DEFAULT_TOKEN_URL
    assert config.client_id == "env-id"
    assert config.client_secret.reveal() == "env-secret"


def test_arguments_beat_environment_beat_profile(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    write_profile(
        path,
        "default",
        {"client_id": "file-id", "client_secret": "file-secret", "api_url": "http://file.example"},
    )
    assert resolve(env={}, config_file=path).client_id == "file-id"
    assert resolve(env=ENV, config_file=path).client_id == "env-id"
    config = resolve(client_id="arg-id", env=ENV, config_file=path)
    assert config.client_id == "arg-id"
    assert config.client_secret.reveal() == "env-secret"
    assert config.api_url == "http://file.example"


def test_a_non_hosted_api_gets_its_own_token_endpoint(tmp_path: Path) -> None:
    config = resolve(api_url="http://127.0.0.1:8000/", env=ENV, config_file=tmp_path / "x")
    assert config.api_url == "http://127.0.0.1:8000"
    assert config.token_url == "http://127.0.0.1:8000/oauth2/token"
    explicit = resolve(
        api_url="http://127.0.0.1:8000",
        token_url="http://auth.test/t",
        env=ENV,
        config_file=tmp_path / "x",
    )
    assert explicit.token_url == "http://auth.test/t"


def test_missing_credentials_say_how_to_set_them(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError) as caught:
        resolve(env={}, config_file=tmp_path / "none.toml")
    assert "POND_CLIENT_ID and POND_CLIENT_SECRET" in caught.value.message
    assert caught.value.hint is not None
    assert "pond configure" in caught.value.hint
    assert caught.value.exit_code == 8


def test_a_named_profile_must_exist(tmp_path: Path) -> None:
    with pytest.raises(ConfigurationError, match="no profile 'staging'"):
        resolve(profile="staging", env=ENV, config_file=tmp_path / "none.toml")
    with pytest.raises(ConfigurationError, match="no profile 'prod'"):
        resolve(env={**ENV, "POND_PROFILE": "prod"}, config_file=tmp_path / "none.toml")


def test_profiles_are_kept_side_by_side_in_a_private_file(tmp_path: Path) -> None:
    path = tmp_path / "dir" / "config.toml"
    write_profile(path, "default", {"client_id": "a", "client_secret": 'q"u\\o\nte'})
    write_profile(path, "staging", {"client_id": "b", "client_secret": "s", "api_url": "http://s"})
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    profiles = read_profiles(path)
    assert profiles["default"]["client_secret"] == 'q"u\\o\nte'
    assert profiles["staging"]["api_url"] == "http://s"
    assert resolve(profile="staging", env={}, config_file=path).client_id == "b"


def test_bad_config_files_and_urls_are_configuration_errors(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("not = [toml")
    with pytest.raises(ConfigurationError, match="cannot read the config file"):
        resolve(env=ENV, config_file=path)
    with pytest.raises(ConfigurationError, match="not an http"):
        resolve(api_url="ftp://x", env=ENV, config_file=tmp_path / "none")
    with pytest.raises(ConfigurationError, match="bad profile name"):
        write_profile(tmp_path / "c.toml", "a b", {"client_id": "x"})


def test_the_config_file_location(tmp_path: Path) -> None:
    assert config_path({"POND_CONFIG": str(tmp_path / "c.toml")}) == tmp_path / "c.toml"
    assert config_path({"XDG_CONFIG_HOME": str(tmp_path)}) == tmp_path / "pond" / "config.toml"


def test_the_secret_never_shows(tmp_path: Path) -> None:
    config = resolve(env=ENV, config_file=tmp_path / "none")
    for text in (repr(config), str(config), f"{config}", repr(config.client_secret)):
        assert "env-secret" not in text
    assert Secret("a") == Secret("a")
    assert not Secret("")
