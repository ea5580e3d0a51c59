from __future__ import annotations

from pathlib import Path

import pytest

from pond.errors import ConfigError
from pond.settings import load_settings


def test_defaults_match_the_brief(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    for name in ("POND_DATA_DIR", "POND_DATABASE_URL", "POND_PART_MAX_ROWS", "POND_LINK_TTL"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    assert settings.data_dir == Path("pond-data")
    assert settings.database_url is None
    assert settings.part_max_rows == 1_000_000
    assert settings.link_ttl == settings.token_ttl == 3600
    assert settings.retention_days == 7
    assert settings.objects_dir == Path("pond-data/objects")


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("POND_PART_MAX_ROWS", "abc"),
        ("POND_PART_MAX_ROWS", "0"),
        ("POND_LINK_TTL", "-1"),
        ("POND_RETENTION_DAYS", "0"),
        ("POND_PUBLIC_URL", "example.com"),
        ("POND_STORAGE_URL", "ftp://x"),
        ("POND_WEBHOOK_ALLOW_CIDRS", "10.0.0.5/8"),
        ("POND_WEBHOOK_ALLOW_CIDRS", "10.0.0.0/8,intranet"),
    ],
)
def test_a_bad_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, variable: str, value: str
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv(variable, value)
    with pytest.raises(ConfigError, match=variable):
        load_settings()


def test_environment_beats_pond_toml(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "pond.toml").write_text("part_max_rows = 10\nlink_ttl = 60\n")
    monkeypatch.setenv("POND_LINK_TTL", "120")
    settings = load_settings()
    assert settings.part_max_rows == 10
    assert settings.link_ttl == 120


def test_the_database_url_never_prints(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POND_DATABASE_URL", "postgresql://u:hunter2@db/pond")
    assert "hunter2" not in repr(load_settings())


def test_the_pool_size_is_bounded(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POND_DB_POOL_SIZE", "8")
    assert load_settings().db_pool_size == 8
    monkeypatch.setenv("POND_DB_POOL_SIZE", "1")
    with pytest.raises(ConfigError, match="POND_DB_POOL_SIZE"):
        load_settings()


def test_entities_come_from_pond_toml_or_json(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POND_ENTITIES", raising=False)
    (tmp_path / "pond.toml").write_text(
        '[entities.orders]\ntable = "shop.orders"\ncolumns = ["id", "total"]\n'
    )
    orders = load_settings().entities["orders"]
    assert (orders.table, orders.key_column, orders.columns) == (
        "shop.orders",
        "id",
        ["id", "total"],
    )
    monkeypatch.setenv("POND_ENTITIES", '{"refunds": {"table": "refunds", "columns": ["id"]}}')
    # The environment adds to (and overrides by name) the entities of pond.toml.
    assert sorted(load_settings().entities) == ["orders", "refunds"]
    monkeypatch.setenv("POND_ENTITIES", '{"refunds": {"table": "drop table x", "columns": []}}')
    with pytest.raises(ConfigError, match="POND_ENTITIES"):
        load_settings()


def test_webhook_ranges_are_comma_separated_or_a_toml_list(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("POND_WEBHOOK_ALLOW_CIDRS", raising=False)
    assert load_settings().webhook_allow_cidrs == ()  # closed by default: public only
    (tmp_path / "pond.toml").write_text('webhook_allow_cidrs = ["10.1.0.0/16", "fd00::/8"]\n')
    assert [str(n) for n in load_settings().webhook_allow_cidrs] == ["10.1.0.0/16", "fd00::/8"]
    monkeypatch.setenv("POND_WEBHOOK_ALLOW_CIDRS", " 127.0.0.0/8, ::1 ")
    assert [str(n) for n in load_settings().webhook_allow_cidrs] == ["127.0.0.0/8", "::1/128"]


def test_a_webhook_range_with_host_bits_says_how_to_write_it(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("POND_WEBHOOK_ALLOW_CIDRS", "10.0.0.5/8")
    with pytest.raises(ConfigError, match=r"write the network's first address, 10\.0\.0\.0/8"):
        load_settings()
