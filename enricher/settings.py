"""Load a run's settings: flags > ``ENRICHER_*`` environment > config file > defaults.

The config file is ``enricher.toml`` (top level) or ``[tool.enricher]`` in ``pyproject.toml``,
found by walking up from the working folder, or the file named by ``--config``. Every key is
listed once in ``KEYS``; unknown keys are errors that suggest the nearest valid key. Of two
settings that exclude each other (``in_place``/``out``), the one a higher source chooses
wins; both in one source is an error. A plain number in a duration key is seconds, except
in a key named in days (``confirm_days``).

This module turns text into a frozen ``Config``, each value parsed by ``values``
(``preflight`` checks it against the machine before a run); it must not fetch, read records
or print. Errors are ``ConfigError`` with one line naming the file (or variable/flag) and the
fix.
"""

from __future__ import annotations

import difflib
import os
import re
import tomllib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from enricher.config import Config, FetchConfig, HostPolicy
from enricher.values import (
    boolean,
    codes,
    days,
    folder_name,
    headers,
    optional_str,
    parse_duration,
    positive_duration,
    positive_int,
    record_bytes,
    regexes,
    statuses,
    str_list,
    user_agent,
)


class ConfigError(Exception):
    """A usage or configuration error: one line, shown as is, exit status 2. ``key``: the
    key path a config file's error is about (``("hosts", name, "interval")``), for its line."""

    def __init__(self, message: str, key: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.key = key


@dataclass(frozen=True, slots=True)
class Key:
    """One setting: where it lands in Config and how its text is parsed."""

    target: str  # "fetch.<field>" or "<field>"
    parse: Callable[[object], Any]


KEYS: dict[str, Key] = {
    "max_concurrency": Key("fetch.max_concurrency", positive_int),
    "host_concurrency": Key("fetch.host_concurrency", positive_int),
    "host_request_interval": Key("fetch.host_request_interval", parse_duration),
    "timeout": Key("fetch.request_deadline", positive_duration),
    "connect_timeout": Key("fetch.connect_timeout", positive_duration),
    "read_timeout": Key("fetch.read_timeout", positive_duration),
    "dns_timeout": Key("fetch.dns_timeout", positive_duration),
    "dns_canary": Key("fetch.dns_canary", lambda value: _canary(optional_str(value))),
    "max_attempts": Key("fetch.max_attempts", positive_int),
    "retry_after_cap": Key("fetch.retry_after_cap", parse_duration),
    "max_redirects": Key("fetch.max_redirects", positive_int),
    "user_agent": Key("fetch.user_agent", user_agent),
    "headers": Key("fetch.headers", headers),
    "allow_private": Key("fetch.allow_private", boolean),
    "proxy": Key("fetch.proxy", optional_str),
    "ca_bundle": Key("fetch.ca_bundle", optional_str),
    "http2": Key("fetch.http2", boolean),
    "accept": Key("fetch.accepted_status", codes),
    "include": Key("include", regexes),
    "exclude": Key("exclude", regexes),
    "out": Key("out_dir", folder_name),
    "in_place": Key("in_place", boolean),
    "fail_on": Key("fail_on", statuses),
    "fill_missing": Key("fill_missing", boolean),
    "update_redirects": Key("update_redirects", boolean),
    "prune_dead": Key("prune_dead", boolean),
    "state": Key("state_file", optional_str),
    "max_age": Key("max_age", parse_duration),
    "confirm_runs": Key("confirm_runs", positive_int),
    "confirm_days": Key("confirm_days", days),  # a plain number is days, as named
    "report": Key("reports", str_list),
    "results": Key("results", optional_str),
    "max_record_bytes": Key("max_record_bytes", record_bytes),
}
HOST_KEYS: dict[str, Callable[[object], Any]] = {
    "concurrency": positive_int,
    "interval": parse_duration,
    "headers": headers,
    "user_agent": user_agent,
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Config plus the output choices that belong to the CLI, not to the pipeline."""

    config: Config
    reports: tuple[str, ...] = ()
    results: str | None = None
    source: str | None = None  # the config file used, for messages
    labels: Mapping[str, str] = field(default_factory=dict)  # key -> where it was set (_label)


def _suggest(name: str, choices: Mapping[str, object]) -> str:
    near = difflib.get_close_matches(name, list(choices), n=1)
    return f"; did you mean {near[0]!r}?" if near else ""


def find_config_file(start: Path) -> tuple[Path, dict[str, Any]] | None:
    """Walk up from ``start`` to the first ``enricher.toml`` or ``pyproject.toml`` that has a
    ``[tool.enricher]`` table. A folder that cannot be searched holds none; a config file
    found but unreadable, or a ``tool.enricher`` that is not a table, is a ConfigError."""
    for folder in (start, *start.parents):
        candidate = folder / "enricher.toml"
        if _is_file(candidate):
            return candidate, _load_toml(candidate)
        if os.path.lexists(candidate):  # passing over it would run on other settings
            raise ConfigError(f"{candidate}: is no regular file (a folder, a FIFO, a broken or "
                              "looping symlink); fix or remove it, or give --config FILE")
        pyproject = folder / "pyproject.toml"
        if _is_file(pyproject) and _mentions_enricher(pyproject) and (
                table := _pyproject_table(pyproject)) is not None:
            return pyproject, table
    return None


def _pyproject_table(path: Path, given: bool = False) -> dict[str, Any] | None:
    """The ``[tool.enricher]`` table of a pyproject.toml, None without one. A ``tool`` that
    is not a table is another program's business, unless the file was ``given`` (--config)."""
    tool = _load_toml(path).get("tool", {})
    if not isinstance(tool, dict):
        if given:
            raise ConfigError(f"{path}: tool must be a table; put the settings in [tool.enricher]")
        return None
    table = tool.get("enricher")
    if table is not None and not isinstance(table, dict):
        raise ConfigError(f"{path}: [tool.enricher] must be a table of settings (key = value "
                          "lines under a [tool.enricher] header)")
    return table


def _mentions_enricher(path: Path) -> bool:
    """Could this pyproject.toml hold our settings? Another project's file (one above the
    working folder), broken or unreadable, must not stop every command: only one that
    names ``enricher`` is parsed, and its errors are ours."""
    try:
        return b"enricher" in path.read_bytes()
    except OSError:
        return False  # unreadable: nothing says it is ours


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:  # its folder cannot be searched (0700, another user's): no config here
        return False


def _load_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            raw = fh.read()
        return tomllib.loads(raw.removeprefix(b"\xef\xbb\xbf").decode("utf-8"))  # a BOM:
    except tomllib.TOMLDecodeError as exc:  # Notepad's UTF-8, which TOML does not allow
        raise ConfigError(f"{path}: {exc}; fix the TOML syntax") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(
            f"{path}: not UTF-8 text (bad byte at offset {exc.start}); save it as UTF-8"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read config file ({exc.strerror}); make it "
                          "readable or give another with --config FILE") from None


_TOML_KEY = re.compile(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[A-Za-z0-9_-]+)\s*(?:=|\.)""")
_TOML_HEADER = re.compile(r"\s*\[(?!\[)(.*)\]\s*(?:#.*)?$")


def _toml_names(text: str) -> tuple[str, ...]:
    """``hosts."a.com"`` -> ("hosts", "a.com"): a header's or dotted key's parts."""
    parts = re.findall(r"""\s*("(?:[^"\\]|\\.)*"|'[^']*'|[^.\s"']+)\s*(?:\.|$)""", text)
    return tuple(p[1:-1] if p[:1] in "\"'" else p for p in parts)


def toml_lines(path: Path) -> list[str]:
    """A config file's lines for ``key_line`` (none when it cannot be read as text)."""
    try:
        return path.read_text("utf-8-sig").splitlines()
    except (OSError, UnicodeError):
        return []


def key_line(lines: list[str], key: tuple[str, ...], table: tuple[str, ...] = ()) -> int | None:
    """The 1-based line of config ``key`` (a table's header, or ``name = ...`` in its table)
    under ``table`` in a file's ``lines``; None when not found (an inline table, a dotted
    key): a plain scan of TOML's common forms, for messages only."""
    if not key:
        return None
    current: tuple[str, ...] = ()
    for number, line in enumerate(lines, 1):
        header = _TOML_HEADER.match(line)
        if header:
            current = _toml_names(header.group(1))
            if current == table + key:
                return number
            continue
        found = _TOML_KEY.match(line)
        if found and current == table + key[:-1] and _toml_names(found.group(1)) == key[-1:]:
            return number
    return None


def flag_name(key: str) -> str:
    """The command-line flag of a settings key: ``max_concurrency`` -> ``--max-concurrency``."""
    return "--header" if key == "headers" else "--" + key.replace("_", "-")


def _label(where: str, name: str) -> str:
    """How a key is named in a message: ``--flag``, ``ENRICHER_KEY`` or ``file: key``."""
    if where == "command line":
        return flag_name(name)
    if where == "environment":
        return f"ENRICHER_{name.upper()}"
    return f"{where}: {name}"


def _parse(where: str, raw: Mapping[str, object]) -> dict[str, Any]:
    """Parse the ``raw`` keys of one source; ``where`` is a file name (errors say
    ``file: key: ...``), ``"command line"`` (``--flag: ...``) or ``"environment"``
    (``ENRICHER_KEY: ...``)."""
    values: dict[str, Any] = {}
    for name, value in raw.items():
        label = _label(where, name)
        key = KEYS.get(name)
        if key is None:
            if where == "environment":
                near = difflib.get_close_matches(name, list(KEYS), n=1)
                hint = f"; did you mean ENRICHER_{near[0].upper()}?" if near else ""
                raise ConfigError(f"{label}: unknown variable{hint}")
            raise ConfigError(f"{where}: unknown key {name!r}{_suggest(name, KEYS)}", (name,))
        try:
            values[name] = key.parse(value)
        except (ValueError, TypeError) as exc:
            raise ConfigError(f"{label}: {exc}", (name,)) from None
    return values


#: settings that exclude each other: a source that chooses one (a value other than false)
#: drops the other one from the lower sources; one source choosing both is an error
EXCLUSIVE: tuple[tuple[str, str], ...] = (("in_place", "out"),)


def _chooses(values: Mapping[str, Any], name: str) -> bool:
    return name in values and values[name] is not False


def _merge(merged: dict[str, Any], where: str, values: Mapping[str, Any],
           labels: dict[str, str]) -> None:
    """Lay one source over the lower ones already in ``merged``; ``labels`` notes where
    each key was set, for later messages about its value."""
    for a, b in EXCLUSIVE:
        if _chooses(values, a) and _chooses(values, b):
            both = f"{_label(where, a)} and {_label(where, b).removeprefix(f'{where}: ')}"
            raise ConfigError(f"{both} exclude each other; choose one", (b,))
        for chosen, other in ((a, b), (b, a)):
            if _chooses(values, chosen):
                merged.pop(other, None)
    merged.update(values)
    labels.update((name, _label(where, name)) for name in values)


def _hosts(where: str, table: object) -> dict[str, HostPolicy]:
    if not isinstance(table, Mapping):
        raise ConfigError(f"{where}: [hosts] must be a table of host names", ("hosts",))
    hosts: dict[str, HostPolicy] = {}
    for host, policy in table.items():
        if not isinstance(policy, Mapping):
            raise ConfigError(f"{where}: hosts.{host} must be a table", ("hosts", host))
        fields: dict[str, Any] = {}
        for name, value in policy.items():
            parse = HOST_KEYS.get(name)
            if parse is None:
                raise ConfigError(f"{where}: hosts.{host}: unknown key {name!r}"
                                  f"{_suggest(name, HOST_KEYS)}", ("hosts", host, name))
            try:
                fields[name] = parse(value)
            except (ValueError, TypeError) as exc:
                raise ConfigError(f"{where}: hosts.{host}.{name}: {exc}",
                                  ("hosts", host, name)) from None
        name = _host_name(host, where)
        if name in hosts:  # "A.com" and "a.com": one would silently replace the other
            first = next(key for key in table if _host_name(key, where) == name)
            raise ConfigError(f"{where}: hosts.{host}: the same host as [hosts.\"{first}\"] "
                              f"({name}); merge the two tables", ("hosts", host))
        hosts[name] = HostPolicy(**fields)
    return hosts


def _host_name(host: str, where: str) -> str:
    """A ``[hosts]`` key as URLs' hosts are compared: lower case, punycode, no trailing dot
    (``bücher.example`` is ``xn--bcher-kva.example``); a key that is no host name (with a
    port, a scheme or a path) is an error, not a table that never applies."""
    from enricher.net.urls import CleanURL, clean_url, host_key  # the network stack, lazily

    name = host.strip().rstrip(".")
    bare = name[1:-1] if name.startswith("[") and name.endswith("]") else name
    ipv6 = ":" in bare and not bare.strip("0123456789abcdefABCDEF:.")
    cleaned = None if not ipv6 and any(c in name for c in "/:@?#[]\\ ") else clean_url(
        f"http://[{bare}]/" if ipv6 else f"http://{name}/", allowed_low_ports=frozenset({80}))
    if not isinstance(cleaned, CleanURL):
        raise ConfigError(f"{where}: hosts.{host}: not a host name; write the name alone, "
                          'as in [hosts."news.example.com"] (no scheme, port or path)',
                          ("hosts", host))
    return host_key(cleaned.url)


def _canary(name: str | None) -> str | None:
    """``dns_canary``: a host name (None: switched off). A URL or a typo that cannot be
    looked up would make every "no such name" answer ``dns_error``, night after night."""
    if name is not None:
        try:
            _host_name(name, "")
        except ConfigError:
            raise ValueError(f"{name!r} is not a host name; write a name every resolver "
                             'finds, such as example.com, or "" to switch the canary off'
                             ) from None
    return name


def load_settings(
    flags: Mapping[str, object],
    *,
    config_file: str | None = None,
    environ: Mapping[str, str] | None = None,
    cwd: Path | None = None,
    search: bool = True,
) -> Settings:
    """Merge defaults, the config file, ``ENRICHER_*`` variables and flags (None = not given).
    The config file is ``config_file`` (``--config``), else ``ENRICHER_CONFIG``, else the
    one found upwards from ``cwd``; with ``search`` False, none is looked for."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    labels: dict[str, str] = {}
    hosts: dict[str, HostPolicy] = {}
    source: str | None = None
    found: tuple[Path, dict[str, Any]] | None
    label = "--config"
    if config_file is not None and not config_file.strip():  # --config "$UNSET"
        raise ConfigError("--config: empty file name; give a TOML file")
    if not config_file and environ.get("ENRICHER_CONFIG"):
        config_file, label = environ["ENRICHER_CONFIG"], "ENRICHER_CONFIG"
    if config_file:
        path = Path(config_file)
        try:  # Python 3.11: a name over 255 bytes raises, it is not "missing"
            is_dir, is_file = path.is_dir(), path.is_file()
        except OSError as exc:
            raise ConfigError(f"{label} {config_file}: cannot be read ({exc.strerror or exc}); "
                              "give an existing TOML file") from None
        if is_dir:
            raise ConfigError(f"{label} {config_file}: is a folder; give a TOML file")
        if not is_file:
            what = ("is no regular file (a FIFO, a device, a broken or looping symlink)"
                    if os.path.lexists(path) else "no such file")
            raise ConfigError(f"{label} {config_file}: {what}; give an existing TOML file")
        if path.name == "pyproject.toml":
            table = _pyproject_table(path, given=True)
            if table is None:  # given by name: settings that are not there are a mistake
                raise ConfigError(f"{label} {config_file}: has no [tool.enricher] table; "
                                  "add one, or give another TOML file")
            found = (path, table)
        else:
            found = (path, _load_toml(path))
    else:
        found = find_config_file(cwd or Path.cwd()) if search else None
    if found:
        path, table = found
        source = str(path)
        table = dict(table)
        within = ("tool", "enricher") if path.name == "pyproject.toml" else ()
        try:
            if "hosts" in table:
                hosts = _hosts(source, table.pop("hosts"))
            _merge(values, source, _parse(source, table), labels)
        except ConfigError as exc:
            line = key_line(toml_lines(path), exc.key, within)
            if line is None:
                raise
            raise ConfigError(str(exc).replace(f"{source}: ", f"{source}:{line}: ", 1)) from None
        lines = toml_lines(path) if labels else []  # read once for every key's line
        for name in labels:  # later messages about a file's value (a proxy, a CA) name its line
            if (line := key_line(lines, (name,), within)) is not None:
                labels[name] = f"{source}:{line}: {name}"
    env = {
        k[len("ENRICHER_") :].lower(): v
        for k, v in environ.items()
        if k.startswith("ENRICHER_") and k not in {"ENRICHER_CONFIG"}
    }
    _merge(values, "environment", _parse("environment", env), labels)
    given = {k: v for k, v in flags.items() if v is not None}
    if isinstance(results := given.get("results"), str) and not results.strip():  # "$UNSET"
        raise ConfigError("--results '': give a file name, or - for stdout")
    _merge(values, "command line", _parse("command line", given), labels)
    return replace(_build(values, hosts, source), labels=labels)


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
    return Settings(
        config=config,
        reports=tuple(values.get("report", ())),
        results=values.get("results"),
        source=source,
    )
