"""Load a run's settings: flags > ``ENRICHER_*`` environment > config file > defaults.

The config file is ``enricher.toml`` (top level) or ``[tool.enricher]`` in ``pyproject.toml``,
found by walking up from the working folder, or the file named by ``--config``. Every key is
listed once in ``KEYS``; unknown keys are errors that suggest the nearest valid key.

This module turns text into a frozen ``Config``; it must not fetch, read records or print.
Errors are ``ConfigError`` with one line naming the file (or variable/flag) and the fix.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from enricher.config import Config, FetchConfig, HostPolicy
from enricher.models import LinkStatus


class ConfigError(Exception):
    """A usage or configuration error: one line, shown as is, exit status 2."""


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, None: 1.0}


def parse_duration(value: object) -> float:
    """``50ms``, ``1.5s``, ``20h``, ``2d`` or a bare number of seconds -> seconds."""
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as 50ms, 2s or 20h, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative: {value!r}")
        return float(value)
    m = _DURATION.match(str(value))
    if not m:
        raise ValueError(f"expected a duration such as 50ms, 2s or 20h, got {value!r}")
    return float(m.group(1)) * _UNITS[m.group(2)]


def _positive_int(value: object) -> int:
    if isinstance(value, bool):
        raise ValueError(f"expected a whole number, got {value!r}")
    n = int(str(value).strip()) if isinstance(value, str) else int(value)  # type: ignore[call-overload]
    if n < 1:
        raise ValueError(f"expected a number of at least 1, got {value!r}")
    return n


def _bool(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def _str_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple):
        return tuple(str(v) for v in value)
    raise ValueError(f"expected a list of strings, got {value!r}")


def _regexes(value: object) -> tuple[str, ...]:
    patterns = _str_list(value)
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"bad regular expression {p!r}: {exc}") from None
    return patterns


def _statuses(value: object) -> frozenset[str]:
    names = {s.strip().lower() for s in _str_list(value)}
    valid = {s.value for s in LinkStatus}
    bad = names - valid
    if bad:
        raise ValueError(
            f"unknown status {sorted(bad)[0]!r}; choose from {', '.join(sorted(valid))}"
        )
    return frozenset(names)


def _codes(value: object) -> frozenset[int]:
    codes: set[int] = set()
    for item in _str_list(value) if not isinstance(value, list) else [str(v) for v in value]:
        if "..=" in item or ".." in item:
            lo, hi = re.split(r"\.\.=?", item, maxsplit=1)
            codes.update(range(int(lo), int(hi) + 1))
        else:
            codes.add(int(item))
    if any(c < 100 or c > 999 for c in codes):
        raise ValueError("status codes are between 100 and 999")
    return frozenset(codes)


def _headers(value: object) -> dict[str, str]:
    if isinstance(value, Mapping):
        return {str(k): str(v) for k, v in value.items()}
    out: dict[str, str] = {}
    for item in value if isinstance(value, list | tuple) else [value]:
        name, sep, val = str(item).partition(":")
        if not sep or not name.strip():
            raise ValueError(f"expected a header as 'Name: value', got {item!r}")
        out[name.strip()] = val.strip()
    return out


def _optional_str(value: object) -> str | None:
    text = str(value).strip()
    return text or None


@dataclass(frozen=True, slots=True)
class Key:
    """One setting: where it lands in Config and how its text is parsed."""

    target: str  # "fetch.<field>" or "<field>"
    parse: Callable[[object], Any]


KEYS: dict[str, Key] = {
    "max_concurrency": Key("fetch.max_concurrency", _positive_int),
    "host_concurrency": Key("fetch.host_concurrency", _positive_int),
    "host_request_interval": Key("fetch.host_request_interval", parse_duration),
    "timeout": Key("fetch.request_deadline", parse_duration),
    "connect_timeout": Key("fetch.connect_timeout", parse_duration),
    "read_timeout": Key("fetch.read_timeout", parse_duration),
    "dns_timeout": Key("fetch.dns_timeout", parse_duration),
    "max_attempts": Key("fetch.max_attempts", _positive_int),
    "retry_after_cap": Key("fetch.retry_after_cap", parse_duration),
    "max_redirects": Key("fetch.max_redirects", _positive_int),
    "user_agent": Key("fetch.user_agent", str),
    "headers": Key("fetch.headers", _headers),
    "allow_private": Key("fetch.allow_private", _bool),
    "proxy": Key("fetch.proxy", _optional_str),
    "ca_bundle": Key("fetch.ca_bundle", _optional_str),
    "http2": Key("fetch.http2", _bool),
    "accept": Key("fetch.accepted_status", _codes),
    "include": Key("include", _regexes),
    "exclude": Key("exclude", _regexes),
    "out": Key("out_dir", str),
    "in_place": Key("in_place", _bool),
    "fail_on": Key("fail_on", _statuses),
    "fill_missing": Key("fill_missing", _bool),
    "update_redirects": Key("update_redirects", _bool),
    "prune_dead": Key("prune_dead", _bool),
    "state": Key("state_file", _optional_str),
    "max_age": Key("max_age", parse_duration),
    "confirm_runs": Key("confirm_runs", _positive_int),
    "confirm_days": Key("confirm_days", lambda v: parse_duration(v) / 86400.0),
    "report": Key("reports", _str_list),
    "results": Key("results", _optional_str),
}
HOST_KEYS: dict[str, Callable[[object], Any]] = {
    "concurrency": _positive_int,
    "interval": parse_duration,
    "headers": _headers,
    "user_agent": str,
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Config plus the output choices that belong to the CLI, not to the pipeline."""

    config: Config
    reports: tuple[str, ...] = ()
    results: str | None = None
    source: str | None = None  # the config file used, for messages


def _suggest(name: str, choices: Mapping[str, object]) -> str:
    near = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def find_config_file(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """Walk up from ``start`` to the first ``enricher.toml`` or ``pyproject.toml`` that has a
    ``[tool.enricher]`` table."""
    for folder in (start, *start.parents):
        candidate = folder / "enricher.toml"
        if candidate.is_file():
            return candidate, _load_toml(candidate)
        pyproject = folder / "pyproject.toml"
        if pyproject.is_file():
            table = _load_toml(pyproject).get("tool", {}).get("enricher")
            if isinstance(table, dict):
                return pyproject, table
    return None


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}; fix the TOML syntax") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror})") from None


def _apply(values: dict[str, Any], where: str, raw: Mapping[str, object]) -> None:
    for name, value in raw.items():
        key = KEYS.get(name)
        if key is None:
            raise ConfigError(f"{where}: unknown key {name!r}{_suggest(name, KEYS)}")
        try:
            values[name] = key.parse(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{where}: {name}: {exc}") from None


def _hosts(where: str, table: object) -> dict[str, HostPolicy]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [hosts] must be a table of host names")
    hosts: dict[str, HostPolicy] = {}
    for host, policy in table.items():
        if not isinstance(policy, Mapping):
            raise ConfigError(f"{where}: hosts.{host} must be a table")
        fields: dict[str, Any] = {}
        for name, value in policy.items():
            parse = HOST_KEYS.get(name)
            if parse is None:
                raise ConfigError(
                    f"{where}: hosts.{host}: unknown key {name!r}{_suggest(name, HOST_KEYS)}"
                )
            try:
                fields[name] = parse(value)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{where}: hosts.{host}.{name}: {exc}") from None
        hosts[host.lower().rstrip(".")] = HostPolicy(**fields)
    return hosts


def load_settings(
    flags: Mapping[str, object],
    *,
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Settings:
    """Merge defaults, the config file, ``ENRICHER_*`` variables and flags (None = not given)."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    hosts: dict[str, HostPolicy] = {}
    source: str | None = None
    found: tuple[Path, dict[str, Any]] | None
    if config_file:
        path = Path(config_file)
        if not path.is_file():
            raise ConfigError(f"--config {config_file}: no such file; give an existing TOML file")
        table = _load_toml(path)
        if path.name == "pyproject.toml":
            table = table.get("tool", {}).get("enricher", {})
        found = (path, table)
    else:
        found = find_config_file(cwd or Path.cwd())
    if found:
        path, table = found
        source = str(path)
        table = dict(table)
        if "hosts" in table:
            hosts = _hosts(source, table.pop("hosts"))
        _apply(values, source, table)
    env = {
        k[len("ENRICHER_") :].lower(): v
        for k, v in environ.items()
        if k.startswith("ENRICHER_") and k not in {"ENRICHER_CONFIG"}
    }
    _apply(values, "environment ENRICHER_*", env)
    given = {k: v for k, v in flags.items() if v is not None}
    _apply(values, "command line", given)
    return _build(values, hosts, source)


def _build(values: Mapping[str, Any], hosts: dict[str, HostPolicy], source: str | None) -> Settings:
    fetch_fields: dict[str, Any] = {"hosts": hosts}
    top: dict[str, Any] = {}
    for name, value in values.items():
        target = KEYS[name].target
        if target.startswith("fetch."):
            fetch_fields[target[len("fetch.") :]] = value
        elif target not in {"reports", "results"}:
            top[target] = value
    config = replace(Config(), fetch=replace(FetchConfig(), **fetch_fields), **top)
    if config.in_place and "out" in values:
        raise ConfigError("--in-place and --out exclude each other; choose one")
    return Settings(
        config=config,
        reports=tuple(values.get("report", ())),
        results=values.get("results"),
        source=source,
    )
