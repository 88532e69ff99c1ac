"""Publication dates: normalise what pages write to ISO 8601, find dates in URLs and text.

The calendar day is kept as written: no time-zone conversion moves a date to another day.
When a page states the same moment both in UTC and in local time, the local form is
preferred (:func:`prefer_local`), because people (and the day in the URL) count in local
days; a UTC value that is really a local midnight is read as that day
(:func:`midnight_as_day`). Pure functions over strings; never raise on any ``str`` input.
This module must not parse HTML or do I/O.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
from collections.abc import Iterable
from urllib.parse import urlsplit

__all__ = ["date_from_url", "midnight_as_day", "normalise_date", "prefer_local", "text_date"]

MIN_YEAR, MAX_YEAR = 1991, 2100

_ISO = re.compile(
    r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[T ]+(\d{1,2}):(\d{2})(?::(\d{1,2}))?(?:[.,]\d+)?"
    r"\s*(Z|[+-]\d{2}(?::?\d{2})?)?)?")
_COMPACT = re.compile(r"(\d{4})(\d{2})(\d{2})(?:T?(\d{2})(\d{2})(\d{2})?)?(?!\d)")
_YMD = re.compile(r"(\d{4})[/.](\d{1,2})[/.](\d{1,2})(?!\d)")
_DMY = re.compile(r"(\d{1,2})\.\s?(\d{1,2})\.\s?(\d{4})(?!\d)")
_RFC_ZONE = re.compile(r"[\s\d](?:[+-]\d{4}|GMT|UTC?|Z|[ECMP][SD]T)\s*$", re.I)
_SLASH = re.compile(r"(\d{1,2})/(\d{1,2})/(\d{4})(?!\d)")
_CJK = re.compile(r"(\d{4})\s?[年년]\s?(\d{1,2})\s?[月월]\s?(\d{1,2})(?!\d)")
_MONTH_NAMES = (
    "jan january januar janvier enero gennaio janeiro januari",
    "feb february februar fevrier février febrero febbraio fevereiro februari",
    "mar march marz märz maerz mars marzo março maart",
    "apr april avril abril aprile",
    "may mai mayo maggio maio mei",
    "jun june juni juin junio giugno junho",
    "jul july juli juillet julio luglio julho",
    "aug august aout août agosto augustus",
    "sep sept september septembre septiembre setiembre settembre setembro",
    "oct october oktober octobre octubre ottobre outubro okt",
    "nov november novembre noviembre novembro",
    "dec december dezember decembre décembre diciembre dicembre dezembro dez",
)
_MONTHS = {name: i + 1 for i, names in enumerate(_MONTH_NAMES) for name in names.split()}
_MONTH = "|".join(sorted(_MONTHS, key=len, reverse=True))
_TEXT_MDY = re.compile(rf"(?<![^\W\d_])({_MONTH})\.?\s+(\d{{1,2}})(?:st|nd|rd|th)?,?\s+(\d{{4}})",
                       re.I)
_TEXT_DMY = re.compile(rf"(\d{{1,2}})(?:st|nd|rd|th)?\.?\s+(?:de\s+)?({_MONTH})(?![^\W\d_])\.?,?"
                       r"\s+(?:de\s+)?(\d{4})", re.I)
_EPOCH = re.compile(r"\d{10}(?:\d{3})?")
# Any of the above inside running text. Month names are matched as any word here (an
# alternation of 90 names is slow) and checked by normalise_date.
_WORD = r"[^\W\d_]{3,10}"
_IN_TEXT = re.compile(
    r"(?<![\d.:/-])(?:\d{4}-\d{2}-\d{2}|\d{1,2}\.\s?\d{1,2}\.\s?\d{4}"
    rf"|\d{{1,2}}(?:st|nd|rd|th)?\.?\s+(?:de\s+)?{_WORD}\.?,?\s+(?:de\s+)?\d{{4}}"
    rf"|(?<![^\W\d_]){_WORD}\.?\s+\d{{1,2}}(?:st|nd|rd|th)?,?\s+\d{{4}}"
    r"|\d{1,2}/\d{1,2}/\d{4}|\d{4}/\d{2}/\d{2}|\d{4}\s?[年년]\s?\d{1,2}\s?[月월]\s?\d{1,2})"
    r"(?!\d)")
_URL_DATE = re.compile(
    r"/((?:19|20)\d{2})[/_-]?(0[1-9]|1[0-2])[/_-]?(0[1-9]|[12]\d|3[01])(?=[/_.-]|$)")


def _ymd(year: str | int, month: str | int, day: str | int) -> str | None:
    y = int(year)
    if not MIN_YEAR <= y <= MAX_YEAR:
        return None
    try:
        return dt.date(y, int(month), int(day)).isoformat()
    except ValueError:
        return None


def _with_time(day: str, hh: str | None, mm: str | None, ss: str | None,
               tz: str | None) -> str:
    """The day with its time, when the time (and offset) is a real one; else the day."""
    if hh is None or mm is None or int(hh) > 23 or int(mm) > 59 or int(ss or 0) > 59:
        return day
    out = f"{day}T{int(hh):02d}:{int(mm):02d}:{int(ss or 0):02d}"  # ASCII digits, whatever
    if tz:  # digits the page wrote ("１０:３０", Arabic-Indic)
        if tz != "Z":
            digits = tz[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
            if hours > 14 or minutes > 59:
                return day  # no such offset: the time's meaning is unknown
            tz = f"{tz[0]}{hours:02d}:{minutes:02d}"
        out += tz
    return out


def _offset(seconds: int | None) -> str | None:
    """An RFC 2822 zone's offset in seconds -> ``Z`` or ``+05:30``."""
    if seconds is None:
        return None
    if seconds == 0:
        return "Z"
    sign, minutes = "+" if seconds > 0 else "-", abs(seconds) // 60
    return f"{sign}{minutes // 60:02d}:{minutes % 60:02d}"


def _month(name: str) -> int | None:
    return _MONTHS.get(name.lower().rstrip("."))


def normalise_date(value: str | None, *, month_first: bool = False) -> str | None:
    """A date as written in a page -> ``YYYY-MM-DD`` or ``YYYY-MM-DDTHH:MM:SS[offset]``.
    ``month_first`` reads an ambiguous ``01/02/2020`` as January 2 (US pages)."""
    if not value:
        return None
    s = value.strip()[:80]
    if m := _ISO.match(s):
        day = _ymd(m[1], m[2], m[3])
        return day and _with_time(day, m[4], m[5], m[6], m[7])
    if (m := _COMPACT.match(s)) and not _EPOCH.fullmatch(s):
        day = _ymd(m[1], m[2], m[3])
        return day and _with_time(day, m[4], m[5], m[6], None)
    if m := _YMD.match(s):
        return _ymd(m[1], m[2], m[3])
    if m := _DMY.match(s):
        return _ymd(m[3], m[2], m[1])
    if m := _CJK.match(s):
        return _ymd(m[1], m[2], m[3])
    if m := _SLASH.match(s):
        a, b = int(m[1]), int(m[2])
        month_first = (month_first and a <= 12) or b > 12
        return _ymd(m[3], a, b) if month_first else _ymd(m[3], b, a)
    parsed = email.utils.parsedate_tz(s) if "," in s[:6] or s[:3].isalpha() else None
    if parsed and parsed[0] and parsed[1] and parsed[2]:
        day = _ymd(parsed[0], parsed[1], parsed[2])
        zone = _offset(parsed[9]) if _RFC_ZONE.search(s) else None  # none written: local
        return day and _with_time(day, str(parsed[3]), f"{parsed[4]:02d}",
                                  f"{parsed[5]:02d}", zone)
    if (m := _TEXT_MDY.search(s)) and (month := _month(m[1])):
        return _ymd(m[3], month, m[2])
    if (m := _TEXT_DMY.search(s)) and (month := _month(m[2])):
        return _ymd(m[3], month, m[1])
    if _EPOCH.fullmatch(s):
        when = dt.datetime.fromtimestamp(int(s[:10]), dt.UTC)
        return when.date().isoformat() if MIN_YEAR <= when.year <= MAX_YEAR else None
    return None


def date_from_url(url: str | None) -> str | None:
    """A publication day written in a URL path (``/2021/03/04/``, ``/2021-03-04-``)."""
    if not url:
        return None
    try:
        path = urlsplit(url).path
    except ValueError:
        return None
    m = _URL_DATE.search(path[:1000])
    return _ymd(m[1], m[2], m[3]) if m else None


_YEAR = re.compile(r"(?<!\d)(?:19|20)\d{2}(?!\d)")
MAX_TEXT_YEARS = 60


def text_date(text: str, *, month_first: bool = False, last: bool = False) -> str | None:
    """The first (or last) valid date written in running text. Only the surroundings of
    the first :data:`MAX_TEXT_YEARS` four-digit years are examined (fast and bounded)."""
    found = None
    for _, year in zip(range(MAX_TEXT_YEARS), _YEAR.finditer(text), strict=False):
        lo = max(0, year.start() - 40)
        for m in _IN_TEXT.finditer(text[lo: year.end() + 30]):
            if m.start() + lo <= year.start() and m.end() + lo >= year.end():
                value = normalise_date(m.group(), month_first=month_first)
                if value and not last:
                    return value
                found = value or found
                break
    return found


def _parse(value: str) -> tuple[dt.datetime, bool] | None:
    """(datetime, has_offset) for values with a time; None for plain days."""
    if len(value) <= 10:
        return None
    try:
        when = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when, when.tzinfo is not None


def prefer_local(chosen: str, others: Iterable[str | None]) -> str:
    """If ``chosen`` is a UTC time, the same moment as written locally elsewhere on the page
    (another source with a non-zero offset, a local time without offset, or the URL's day
    when it is one day off in the plausible direction); else ``chosen``."""
    parsed = _parse(chosen)
    if parsed is None or not parsed[1] or parsed[0].utcoffset() != dt.timedelta(0):
        return chosen
    utc = parsed[0]
    for other in others:
        if not other or other[:10] == chosen[:10]:
            continue
        alt = _parse(other)
        if alt is None:  # a plain day, e.g. from the URL
            try:
                delta = (dt.date.fromisoformat(other[:10]) - utc.date()).days
            except ValueError:
                continue
            if (delta == -1 and utc.hour < 14) or (delta == 1 and utc.hour >= 10):
                return other
        elif alt[1]:
            if alt[0].utcoffset() and abs((alt[0] - utc).total_seconds()) <= 60:
                return other
        else:
            shift = (alt[0] - utc.replace(tzinfo=None)).total_seconds()
            if 0 < abs(shift) <= 14 * 3600 and shift % 900 == 0:
                return other
    return chosen


def midnight_as_day(value: str) -> str:
    """A UTC time of exactly 22:00:00 or 23:00:00 is a date-only value stored as local
    midnight of a UTC+2/UTC+1 site (CMSs do that): the day is the next one. Else ``value``."""
    parsed = _parse(value)
    if parsed is None or not parsed[1] or parsed[0].utcoffset() != dt.timedelta(0):
        return value
    when = parsed[0]
    if (when.hour, when.minute, when.second, when.microsecond) in ((22, 0, 0, 0), (23, 0, 0, 0)):
        return (when.date() + dt.timedelta(days=1)).isoformat()
    return value
