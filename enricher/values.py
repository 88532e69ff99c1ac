"""Configuration values: text (from a flag, an ``ENRICHER_*`` variable or the config file)
to a checked value, or a ``ValueError`` whose one line says what is wrong and the fix.

Durations (``50ms``, ``2s``, ``20h``, ``2d``; a plain number is seconds, or days for a key
named in days), whole numbers, switches, lists, regular expressions, statuses, HTTP status
codes, header names and values, User-Agent, folder names. Bounds a machine cannot honour
(a duration of centuries, a record of exabytes) are refused here, before a run starts.

This module must not read files or the environment, or know which key a value is for
(``settings`` does).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping

from enricher.config import MAX_COUNT, MAX_DURATION_DAYS, MAX_RECORD_BYTES_LIMIT
from enricher.models import LinkStatus

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


def parse_duration(value: object, plain: float = 1.0) -> float:
    """``50ms``, ``1.5s``, ``20h``, ``2d`` or a plain number -> seconds. A plain number is
    ``plain`` seconds each: seconds for most keys, a day for a key named in days."""
    example = "2d or 36h (a plain number is days)" if plain == _UNITS["d"] else "50ms, 2s or 20h"
    if isinstance(value, bool):
        raise ValueError(f"expected a duration such as {example}, got {value!r}")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError(f"a duration cannot be negative, got {value!r}")
        seconds = float(value) * plain
    else:
        m = _DURATION.match(str(value))
        if not m:
            if str(value).strip().startswith("-"):
                raise ValueError(f"a duration cannot be negative, got {value!r}")
            raise ValueError(f"expected a duration such as {example}, got {value!r}")
        seconds = float(m.group(1)) * (plain if m.group(2) is None else _UNITS[m.group(2)])
    if not math.isfinite(seconds):  # nan, inf, or digits past float's range
        raise ValueError(f"expected a finite duration such as {example}, got {value!r}")
    if seconds > MAX_DURATION_DAYS * _UNITS["d"]:  # dates past year 9999, a run that never ends
        raise ValueError(f"a duration of at most {MAX_DURATION_DAYS} days, got {value!r}")
    return seconds


def days(value: object) -> float:
    """A duration in days (``confirm_days``): ``2`` and ``"2d"`` are two days, ``"36h"`` 1.5."""
    return parse_duration(value, plain=_UNITS["d"]) / _UNITS["d"]


def positive_duration(value: object) -> float:
    """A duration that must be above zero (timeouts): ``0`` would fail every request."""
    seconds = parse_duration(value)
    if seconds <= 0:
        raise ValueError(f"must be more than zero, e.g. 10s, got {value!r}")
    return seconds


def whole_number(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str) and re.fullmatch(r"\s*[+-]?\d+\s*", value):
        return int(value)
    raise ValueError(f"expected a whole number, got {value!r}")


def _between(value: object, most: int, shown: str) -> int:
    n = whole_number(value)
    if n < 1:
        raise ValueError(f"expected a number of at least 1, got {value!r}")
    if n > most:
        raise ValueError(f"at most {shown}, got {value!r}")
    return n


def positive_int(value: object) -> int:
    """A count (concurrency, attempts, redirects, runs): 1 to ``MAX_COUNT`` (a 20-digit
    ``confirm_runs`` crashed the history's SQL at the end of the run)."""
    return _between(value, MAX_COUNT, f"{MAX_COUNT:,}")


def record_bytes(value: object) -> int:
    """A record size cap: at least 1, at most ``MAX_RECORD_BYTES_LIMIT`` (a larger one
    would be read into memory whole)."""
    return _between(value, MAX_RECORD_BYTES_LIMIT, f"{MAX_RECORD_BYTES_LIMIT} (1 GiB)")


def boolean(value: object) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true or false, got {value!r}")


def str_list(value: object) -> tuple[str, ...]:
    if isinstance(value, str):
        return tuple(v.strip() for v in value.split(",") if v.strip())
    if isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        return tuple(value)
    raise ValueError(f"expected a list of strings, got {value!r}")


def regexes(value: object) -> tuple[str, ...]:
    """A list of patterns, or one pattern as a string: never split on commas, which
    regular expressions use (``\\d{2,4}``)."""
    patterns = (value,) if isinstance(value, str) else str_list(value)
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"bad regular expression {p!r}: {exc}") from None
    return patterns


def statuses(value: object) -> frozenset[str]:
    names = {s.strip().lower() for s in str_list(value)}
    valid = {s.value for s in LinkStatus}
    if not names:  # an empty --fail-on would mean "never fail", which the README never offers
        raise ValueError("give at least one status, e.g. dead or dead,error (the default is dead)")
    bad = names - valid
    if bad:
        raise ValueError(
            f"unknown status {sorted(bad)[0]!r}; choose from {', '.join(sorted(valid))}"
        )
    return frozenset(names)


_CODE_ITEM = re.compile(r"\s*(\d{1,20})\s*(?:\.\.=?\s*(\d{1,20})\s*)?")  # no 5,000-digit int()


def codes(value: object) -> frozenset[int]:
    codes: set[int] = set()
    if isinstance(value, int) and not isinstance(value, bool):
        value = [value]  # accept = 403: one code
    for item in [str(v) for v in value] if isinstance(value, list) else str_list(value):
        m = _CODE_ITEM.fullmatch(item)
        if m is None:
            raise ValueError(
                f"expected HTTP status codes such as 403,999 or 200..=299, got {item!r}"
            )
        lo, hi = int(m.group(1)), int(m.group(2) or m.group(1))
        if not 100 <= lo <= 999 or not 100 <= hi <= 999:  # checked before a range is built
            raise ValueError(f"status codes are between 100 and 999, got {item!r}")
        if hi < lo:
            raise ValueError(f"empty range {item!r}; put the lower code first, e.g. 200..=299")
        codes.update(range(lo, hi + 1))
    return frozenset(codes)


_TOKEN = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")  # RFC 7230 token: a header name
_OWN_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection", "te",
                          "upgrade", "keep-alive", "proxy-connection", "trailer"})
_BAD_VALUE = re.compile(r"[^\t\x20-\x7e]")  # control (CR, LF, NUL, DEL...) or non-ASCII


def text_of(value: object) -> str:
    """A string setting: a TOML number, list or table is an error, never its ``str()``."""
    if not isinstance(value, str):
        raise ValueError(f"expected a string, got {value!r}")
    return value


def field_value(value: object, prefix: str = "") -> str:
    """A header value or User-Agent: a string of visible ASCII, spaces and tabs."""
    if not isinstance(value, str):
        raise ValueError(f"{prefix}expected a string, got {value!r}")
    if _BAD_VALUE.search(text := value.strip()):
        raise ValueError(f"{prefix}the value {text!r} holds a line break, control or non-ASCII "
                         "character; remove it")
    return text


def header(name: str, value: object) -> tuple[str, str]:
    if not _TOKEN.fullmatch(name):
        raise ValueError(
            f"bad header name {name!r}: use letters, digits and - only (no spaces), "
            "e.g. 'X-Name: value'"
        )
    if name.lower() in _OWN_HEADERS:  # sent as given, they break every request (or mislead)
        raise ValueError(f"header {name}: enricher sets it for each request; remove it")
    if name.lower() == "user-agent":  # it silently beat --user-agent, and could be empty
        raise ValueError(f"header {name}: set it with --user-agent (or user_agent); remove it")
    return name, field_value(value, f"header {name}: ")


def user_agent(value: object) -> str:
    if not (text := field_value(value)):
        raise ValueError("the User-Agent cannot be empty; give one, or leave it out")
    return text


def headers(value: object) -> dict[str, str]:
    """``--header 'Name: value'`` items, or a config table's mapping; a name given twice (in
    any case) is an error: the fetcher sends one of them, and the other was dropped unseen."""
    pairs: list[tuple[str, object]] = []
    if isinstance(value, Mapping):
        pairs = [(str(k), v) for k, v in value.items()]
    else:
        for item in value if isinstance(value, list | tuple) else [value]:
            name, sep, text = str(item).partition(":")
            if not sep or not name.strip():
                raise ValueError(f"expected a header as 'Name: value', got {item!r}")
            pairs.append((name.strip(), text.strip()))
    out: dict[str, str] = {}
    for given, raw in pairs:
        key, text = header(given, raw)
        if any(key.lower() == known.lower() for known in out):
            raise ValueError(f"header {key} is given twice; give it once")
        out[key] = text
    return out


def optional_str(value: object) -> str | None:
    text = text_of(value).strip()
    return text or None


def folder_name(value: object) -> str:
    """A folder name; empty is an error (it would silently mean the working folder)."""
    text = text_of(value).strip()
    if not text:
        raise ValueError("empty folder name; give a folder such as enriched/")
    return text
