"""Settings precedence (flags > environment > file > defaults), parsing and errors."""

from __future__ import annotations

from pathlib import Path

import pytest

from enricher.config import DEFAULT_HOST_CONCURRENCY, DEFAULT_MAX_CONCURRENCY
from enricher.settings import ConfigError, load_settings, parse_duration


def test_defaults_without_any_source(tmp_path: Path) -> None:
    s = load_settings({}, environ={}, cwd=tmp_path)
    assert s.config.fetch.max_concurrency == DEFAULT_MAX_CONCURRENCY
    assert s.config.fetch.host_concurrency == DEFAULT_HOST_CONCURRENCY
    assert s.source is None


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("50ms", 0.05), ("1.5s", 1.5), ("20h", 72000.0), ("2d", 172800.0), ("3", 3.0), (0.25, 0.25)],
)
def test_parse_duration(text: object, seconds: float) -> None:
    assert parse_duration(text) == pytest.approx(seconds)


@pytest.mark.parametrize("bad", ["fast", "-1s", "1 week", True])
def test_parse_duration_rejects(bad: object) -> None:
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    (tmp_path / "enricher.toml").write_text(
        'host_concurrency = 2\nmax_concurrency = 50\nhost_request_interval = "1s"\n'
        '[hosts."Example.COM"]\nconcurrency = 1\ninterval = "2s"\n',
        encoding="utf-8",
    )
    sub = tmp_path / "a" / "b"
    sub.mkdir(parents=True)
    s = load_settings(
        {"host_concurrency": "7"},
        environ={"ENRICHER_MAX_CONCURRENCY": "64", "ENRICHER_HOST_CONCURRENCY": "3"},
        cwd=sub,
    )
    assert s.config.fetch.host_concurrency == 7  # flag
    assert s.config.fetch.max_concurrency == 64  # environment
    assert s.config.fetch.host_request_interval == 1.0  # file, found walking up
    assert s.config.fetch.hosts["example.com"].interval == 2.0
    assert s.source == str(tmp_path / "enricher.toml")


def test_pyproject_tool_table(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nname = "x"\n[tool.enricher]\nfail_on = ["dead", "timeout"]\n', encoding="utf-8"
    )
    s = load_settings({}, environ={}, cwd=tmp_path)
    assert s.config.fail_on == frozenset({"dead", "timeout"})


def test_unknown_key_suggests_nearest(tmp_path: Path) -> None:
    (tmp_path / "enricher.toml").write_text("host_concurency = 2\n", encoding="utf-8")
    with pytest.raises(
        ConfigError, match=r"unknown key 'host_concurency'; did you mean 'host_concurrency'"
    ):
        load_settings({}, environ={}, cwd=tmp_path)


def test_unknown_env_key_and_bad_value() -> None:
    with pytest.raises(ConfigError, match="ENRICHER_"):
        load_settings({}, environ={"ENRICHER_MAX_CONCURENCY": "3"}, cwd=Path("/"))
    with pytest.raises(ConfigError, match="max_concurrency"):
        load_settings({"max_concurrency": "zero"}, environ={}, cwd=Path("/"))


def test_bad_toml_names_file(tmp_path: Path) -> None:
    (tmp_path / "enricher.toml").write_text("max_concurrency = = 2\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"enricher\.toml"):
        load_settings({}, environ={}, cwd=tmp_path)


def test_fail_on_and_accept_parsing() -> None:
    s = load_settings(
        {"fail_on": "dead,error", "accept": "403,200..=204", "headers": ["X-A: 1"]},
        environ={},
        cwd=Path("/"),
    )
    assert s.config.fail_on == frozenset({"dead", "error"})
    assert s.config.fetch.accepted_status == frozenset({403, 200, 201, 202, 203, 204})
    assert s.config.fetch.headers == {"X-A": "1"}
    with pytest.raises(ConfigError, match="unknown status 'gone'"):
        load_settings({"fail_on": "gone"}, environ={}, cwd=Path("/"))


def test_in_place_excludes_out() -> None:
    with pytest.raises(ConfigError, match="--in-place and --out"):
        load_settings({"in_place": True, "out": "x"}, environ={}, cwd=Path("/"))


def test_missing_config_file_is_usage_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="no such file"):
        load_settings({}, config_file=str(tmp_path / "nope.toml"), environ={}, cwd=tmp_path)
