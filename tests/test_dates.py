"""Dates as pages write them -> ISO 8601, the day kept as written; URL and text dates; the
local form of a UTC time."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enricher.dates import (
    date_from_url,
    midnight_as_day,
    normalise_date,
    prefer_local,
    text_date,
)


@pytest.mark.parametrize(("raw", "expected"), [
    ("2021-05-06", "2021-05-06"),
    ("2021-5-6", "2021-05-06"),
    ("2021-05-06T23:30:00+02:00", "2021-05-06T23:30:00+02:00"),
    ("2021-05-06T23:30:00.123+0200", "2021-05-06T23:30:00+02:00"),
    ("2021-05-06T23:30Z", "2021-05-06T23:30:00Z"),
    ("2021-05-06 23:30:00", "2021-05-06T23:30:00"),
    ("20210506", "2021-05-06"),
    ("20210506T2330", "2021-05-06T23:30:00"),
    ("2021/05/06", "2021-05-06"),
    ("06.05.2021", "2021-05-06"),
    ("6. 5. 2021", "2021-05-06"),
    ("06/05/2021", "2021-05-06"),
    ("13/05/2021", "2021-05-13"),
    ("05/13/2021", "2021-05-13"),
    ("Thu, 06 May 2021 23:30:00 GMT", "2021-05-06T23:30:00Z"),
    ("Thu, 06 May 2021 10:00:00 +0530", "2021-05-06T10:00:00+05:30"),
    ("Thu, 06 May 2021 10:00:00", "2021-05-06T10:00:00"),  # no zone written: none given
    ("2021-03-04T10:00:60Z", "2021-03-04"),  # no such time: the day alone
    ("2021-03-04T10:00:00+99:00", "2021-03-04"),  # no such offset
    ("May 6, 2021", "2021-05-06"),
    ("6 May 2021", "2021-05-06"),
    ("6th of May 2021", None),
    ("6. Mai 2021", "2021-05-06"),
    ("6 de mayo de 2021", "2021-05-06"),
    ("6 mars 2021", "2021-03-06"),
    ("2021年5月6日", "2021-05-06"),
    ("1620259200", "2021-05-06"),
    ("2021-02-30", None),
    ("1850-01-01", None),
    ("yesterday", None),
    ("", None),
    (None, None),
])
def test_normalise_date(raw: str | None, expected: str | None) -> None:
    assert normalise_date(raw) == expected


def test_month_first_for_us_pages() -> None:
    assert normalise_date("05/06/2021", month_first=True) == "2021-05-06"
    assert normalise_date("05/06/2021") == "2021-06-05"


@pytest.mark.parametrize(("url", "expected"), [
    ("https://x.example/2021/05/06/story", "2021-05-06"),
    ("https://x.example/news/2021-05-06-story.html", "2021-05-06"),
    ("https://x.example/20210506/story", "2021-05-06"),
    ("https://x.example/2021/05/story", None),  # no day
    ("https://x.example/story-20211306", None),
    ("https://x.example/id/1234567890", None),
    ("", None),
    (None, None),
])
def test_date_from_url(url: str | None, expected: str | None) -> None:
    assert date_from_url(url) == expected


def test_text_date_first_and_last() -> None:
    text = "Updated 7 May 2021. First published on 6 May 2021 at noon."
    assert text_date(text) == "2021-05-07"
    assert text_date(text, last=True) == "2021-05-06"
    assert text_date("© 2021 Example Media") is None
    assert text_date("Posted on 2021年5月6日") == "2021-05-06"


def test_prefer_local() -> None:
    utc = "2021-05-07T02:30:00Z"
    assert prefer_local(utc, ["2021-05-06T22:30:00-04:00"]) == "2021-05-06T22:30:00-04:00"
    assert prefer_local(utc, ["2021-05-06T21:30:00"]) == "2021-05-06T21:30:00"  # naive local
    assert prefer_local(utc, ["2021-05-06"]) == "2021-05-06"  # URL day, early UTC hour
    assert prefer_local("2021-05-06T20:00:00Z", ["2021-05-07"]) == "2021-05-07"
    assert prefer_local("2021-05-06T09:00:00Z", ["2021-05-07"]) == "2021-05-06T09:00:00Z"
    assert prefer_local(utc, ["2021-04-01T10:00:00+02:00"]) == utc  # another moment
    assert prefer_local("2021-05-07T02:30:00+02:00", ["2021-05-06"]) \
        == "2021-05-07T02:30:00+02:00"  # not UTC: kept
    assert prefer_local(utc, [None, ""]) == utc


def test_midnight_as_day() -> None:
    assert midnight_as_day("2021-05-05T22:00:00Z") == "2021-05-06"
    assert midnight_as_day("2021-05-05T23:00:00+00:00") == "2021-05-06"
    assert midnight_as_day("2021-05-05T23:00:01Z") == "2021-05-05T23:00:01Z"
    assert midnight_as_day("2021-05-05T23:00:00+01:00") == "2021-05-05T23:00:00+01:00"
    assert midnight_as_day("2021-05-05") == "2021-05-05"


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=60))
def test_never_raises(raw: str) -> None:
    value = normalise_date(raw)
    assert value is None or value[:4].isdigit()
    text_date(raw)
    date_from_url(raw)


@pytest.mark.parametrize(("raw", "expected"), [
    ("2020-12-05T23:15:0Z", "2020-12-05T23:15:00Z"),  # one-digit seconds: the Z was lost
    ("2024-05-01T10:\uff13\uff10:\uff10\uff10Z", "2024-05-01T10:30:00Z"),  # full-width
    ("\u0662\u0660\u0662\u0664-\u0660\u0665-\u0660\u0661T\u0661\u0660:\u0663\u0660"
     "+\u0660\u0663:\u0660\u0660", "2024-05-01T10:30:00+03:00"),  # Arabic-Indic
    ("2024-05-01T10:30+05", "2024-05-01T10:30:00+05:00"),
])
def test_times_come_out_in_iso_8601_ascii(raw: str, expected: str) -> None:
    """livePage.publishedDateTime is ISO 8601: ASCII digits, the zone kept."""
    assert normalise_date(raw) == expected
