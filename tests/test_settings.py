"""Settings precedence (flags > environment > file > defaults), parsing and errors."""

from __future__ import annotations

from pathlib import Path
from typing import Any

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
    with pytest.raises(ConfigError, match="--max-concurrency"):
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


def test_non_utf8_config_is_a_one_line_error(tmp_path: Path) -> None:
    (tmp_path / "enricher.toml").write_bytes(b"\xff\xfe")
    with pytest.raises(ConfigError, match=r"enricher\.toml: not UTF-8 text.*save it as UTF-8"):
        load_settings({}, environ={}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_settings(
            {}, config_file=str(tmp_path / "enricher.toml"), environ={}, cwd=Path("/")
        )


@pytest.mark.parametrize("key", ["timeout", "connect_timeout", "read_timeout", "dns_timeout"])
def test_timeouts_must_be_positive_everywhere(tmp_path: Path, key: str) -> None:
    with pytest.raises(ConfigError, match=rf"^--{key.replace('_', '-')}: must be more than zero"):
        load_settings({key: "0"}, environ={}, cwd=Path("/"))
    with pytest.raises(ConfigError, match=rf"^ENRICHER_{key.upper()}: must be more than zero"):
        load_settings({}, environ={f"ENRICHER_{key.upper()}": "0ms"}, cwd=Path("/"))
    (tmp_path / "enricher.toml").write_text(f"{key} = 0\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"enricher\.toml:\d+: {key}: must be more than zero"):
        load_settings({}, environ={}, cwd=tmp_path)
    assert load_settings({key: "250ms"}, environ={}, cwd=Path("/")).config.fetch  # still fine


def test_zero_is_fine_where_it_means_none() -> None:
    s = load_settings({"host_request_interval": "0", "max_age": "0"}, environ={}, cwd=Path("/"))
    assert s.config.fetch.host_request_interval == 0.0 and s.config.max_age == 0.0


def test_negative_durations_say_so() -> None:
    with pytest.raises(ConfigError, match=r"^--timeout: a duration cannot be negative, got '-1s'$"):
        load_settings({"timeout": "-1s"}, environ={}, cwd=Path("/"))


@pytest.mark.parametrize(
    ("flags", "environ", "message"),
    [
        ({"max_concurrency": "1.5"}, {}, "--max-concurrency: expected a whole number, got '1.5'"),
        ({"accept": "abc"}, {}, "--accept: expected HTTP status codes such as 403,999"),
        ({"accept": "200..=abc"}, {}, "--accept: expected HTTP status codes"),
        (
            {},
            {"ENRICHER_HOST_CONCURRENCY": "zero"},
            "ENRICHER_HOST_CONCURRENCY: expected a whole number, got 'zero'",
        ),
        ({}, {"ENRICHER_MAX_ATTEMPTS": "2.5"}, "ENRICHER_MAX_ATTEMPTS: expected a whole number"),
    ],
)
def test_number_errors_name_the_flag_or_variable_not_python(
    flags: dict[str, object], environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(flags, environ=environ, cwd=Path("/"))
    text = str(info.value)
    assert text.startswith(message), text
    assert "invalid literal" not in text and "ENRICHER_*" not in text and "\n" not in text


def test_number_errors_in_the_config_file(tmp_path: Path) -> None:
    config = tmp_path / "enricher.toml"
    config.write_text('max_concurrency = "lots"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"enricher\.toml:\d+: max_concurrency: expected a whole"):
        load_settings({}, environ={}, cwd=tmp_path)
    config.write_text("max_concurrency = 2.5\n", encoding="utf-8")  # never truncated to 2
    with pytest.raises(ConfigError, match=r"expected a whole number, got 2\.5"):
        load_settings({}, environ={}, cwd=tmp_path)
    config.write_text('max_concurrency = 8\nhost_concurrency = "3"\n', encoding="utf-8")
    fetch = load_settings({}, environ={}, cwd=tmp_path).config.fetch
    assert (fetch.max_concurrency, fetch.host_concurrency) == (8, 3)


def test_unknown_variable_is_named_with_a_suggestion() -> None:
    with pytest.raises(
        ConfigError,
        match=r"^ENRICHER_MAX_CONCURENCY: unknown variable; did you mean ENRICHER_MAX_CONCURRENCY",
    ):
        load_settings({}, environ={"ENRICHER_MAX_CONCURENCY": "3"}, cwd=Path("/"))


@pytest.mark.parametrize(
    "header",
    ["Bad Name: b", "X(y): 1", ": empty", "Naïve: 1", "X-A: one\r\nX-Injected: 1", "X-A: a\nb"],
)
def test_bad_headers_are_rejected(header: str) -> None:
    with pytest.raises(ConfigError, match=r"^--header: ") as info:
        load_settings({"headers": [header]}, environ={}, cwd=Path("/"))
    assert "\n" not in str(info.value).replace("\\n", "")


@pytest.mark.parametrize(("flags", "environ", "message"), [
    ({"max_age": "800000d"}, {}, "--max-age: a duration of at most 3650 days, got '800000d'"),
    ({}, {"ENRICHER_MAX_AGE": "99999999999999999999d"}, "ENRICHER_MAX_AGE: a duration of at"),
    ({}, {"ENRICHER_CONFIRM_DAYS": "4000"}, "ENRICHER_CONFIRM_DAYS: a duration of at most"),
    ({}, {"ENRICHER_MAX_RECORD_BYTES": "100000000000000"},
     "ENRICHER_MAX_RECORD_BYTES: at most 1073741824 (1 GiB)"),
    ({"headers": ["Host: evil.example"]}, {}, "--header: header Host: enricher sets it"),
    ({"headers": ["content-length: 5"]}, {}, "--header: header content-length: enricher sets"),
    ({"headers": ["Transfer-Encoding: chunked"]}, {}, "--header: header Transfer-Encoding: "),
    ({"user_agent": " "}, {}, "--user-agent: the User-Agent cannot be empty"),
    # a User-Agent header beat --user-agent without a word, and could be empty
    ({"headers": ["User-Agent:"]}, {}, "--header: header User-Agent: set it with --user-agent"),
    ({"headers": ["user-agent: x"]}, {}, "--header: header user-agent: set it with"),
    # the second of two values for one name won without a word
    ({"headers": ["X-A: 1", "x-a: 2"]}, {}, "--header: header x-a is given twice"),
    ({"headers": {"X-A": "1", "x-a": "2"}}, {}, "--header: header x-a is given twice"),
])
def test_values_no_run_could_honour_are_one_line_errors(
    flags: dict[str, object], environ: dict[str, str], message: str
) -> None:
    """A duration of centuries or a record cap of terabytes crashed the run with a traceback
    (exit 1, as if links had failed); a Host or framing header broke every request, and an
    empty User-Agent was sent as is."""
    with pytest.raises(ConfigError) as info:
        load_settings(flags, environ=environ, cwd=Path("/"))
    assert str(info.value).startswith(message), str(info.value)


def test_bad_headers_in_the_config_file_and_host_tables(tmp_path: Path) -> None:
    config = tmp_path / "enricher.toml"
    config.write_text('[headers]\n"Bad Name" = "b"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"toml:1: headers: bad header name 'Bad Name'"):
        load_settings({}, environ={}, cwd=tmp_path)
    config.write_text('[hosts."a.example".headers]\nX-A = "1\\r\\nX-B: 2"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"hosts\.a\.example\.headers: header X-A: the value"):
        load_settings({}, environ={}, cwd=tmp_path)
    config.write_text('[headers]\nX-Token = "a b\\tc"\n', encoding="utf-8")
    fetch = load_settings({"headers": ["Accept-Language: de"]}, environ={}, cwd=tmp_path)
    assert fetch.config.fetch.headers == {"Accept-Language": "de"}  # flags win over the file
    assert load_settings({}, environ={}, cwd=tmp_path).config.fetch.headers == {"X-Token": "a b\tc"}


def test_host_tables_are_keyed_as_urls_hosts_are_compared(tmp_path: Path) -> None:
    """An international name in Unicode, upper case or a trailing dot names the host its
    URLs have (punycode, lower case); a key with a port or scheme is an error, not a table
    that silently never applies."""
    config = tmp_path / "enricher.toml"
    config.write_text('[hosts."B\u00dcCHER.Example."]\nconcurrency = 1\n'
                      '[hosts."[::1]"]\nconcurrency = 2\n', encoding="utf-8")
    hosts = load_settings({}, environ={}, cwd=tmp_path).config.fetch.hosts
    assert set(hosts) == {"xn--bcher-kva.example", "::1"}
    for key in ("news.example:8080", "https://news.example", "news.example/world"):
        config.write_text(f'[hosts."{key}"]\nconcurrency = 1\n', encoding="utf-8")
        with pytest.raises(ConfigError, match=r"not a host name; write the name alone"):
            load_settings({}, environ={}, cwd=tmp_path)
    # two spellings of one host: one table silently replaced the other
    config.write_text('[hosts."A.example"]\nconcurrency = 1\n[hosts."a.example."]\n'
                      'interval = "2s"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"hosts\.a\.example\.: the same host as "
                       r"\[hosts\.\"A\.example\"\] \(a\.example\); merge the two tables"):
        load_settings({}, environ={}, cwd=tmp_path)


def test_max_record_bytes_is_a_config_key(tmp_path: Path) -> None:
    """The record-size error says "raise max_record_bytes": the user can."""
    (tmp_path / "enricher.toml").write_text("max_record_bytes = 10000000\n", encoding="utf-8")
    assert load_settings({}, environ={}, cwd=tmp_path).config.max_record_bytes == 10_000_000


# --- mutually exclusive choices: a higher source overrides the other from lower ones ------


@pytest.mark.parametrize(
    ("file_text", "environ", "flags", "in_place", "out_dir"),
    [
        ('out = "enriched"\n', {}, {"in_place": True}, True, None),  # the README's example
        ("", {"ENRICHER_OUT": "x"}, {"in_place": True}, True, None),
        ("in_place = true\n", {}, {"out": "outdir"}, False, "outdir"),
        ("in_place = true\n", {"ENRICHER_OUT": "x"}, {}, False, "x"),
        ('out = "x"\n', {"ENRICHER_IN_PLACE": "1"}, {}, True, None),
        ('in_place = false\nout = "x"\n', {}, {}, False, "x"),  # false chooses nothing
        ('out = "x"\n', {"ENRICHER_IN_PLACE": "0"}, {}, False, "x"),
    ],
)
def test_a_higher_source_choosing_in_place_or_out_overrides_the_other(
    tmp_path: Path,
    file_text: str,
    environ: dict[str, str],
    flags: dict[str, object],
    in_place: bool,
    out_dir: str | None,
) -> None:
    from enricher.config import DEFAULT_OUT_DIR

    (tmp_path / "enricher.toml").write_text(file_text, encoding="utf-8")
    config = load_settings(flags, environ=environ, cwd=tmp_path).config
    assert config.in_place is in_place
    assert config.out_dir == (out_dir or DEFAULT_OUT_DIR)


def test_in_place_and_out_in_one_source_exclude_each_other(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"^--in-place and --out exclude each other"):
        load_settings({"in_place": True, "out": "x"}, environ={}, cwd=tmp_path)
    with pytest.raises(
        ConfigError, match=r"^ENRICHER_IN_PLACE and ENRICHER_OUT exclude each other"
    ):
        load_settings({}, environ={"ENRICHER_IN_PLACE": "1", "ENRICHER_OUT": "x"}, cwd=tmp_path)
    (tmp_path / "enricher.toml").write_text('in_place = true\nout = "x"\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"toml:2: in_place and out exclude each other"):
        load_settings({}, environ={}, cwd=tmp_path)
    with pytest.raises(ConfigError, match="in_place and out exclude each other"):
        load_settings({"out": "y"}, environ={}, cwd=tmp_path)  # the file is still wrong


# --- units: a plain number means what the key's name says ---------------------------------


@pytest.mark.parametrize(
    ("value", "days"),
    [("2", 2.0), (2, 2.0), (0.5, 0.5), ('"2d"', 2.0), ('"36h"', 1.5), ('"1.5"', 1.5)],
)
def test_confirm_days_plain_number_is_days(tmp_path: Path, value: object, days: float) -> None:
    (tmp_path / "enricher.toml").write_text(f"confirm_days = {value}\n", encoding="utf-8")
    assert load_settings({}, environ={}, cwd=tmp_path).config.confirm_days == pytest.approx(days)
    plain = str(value).strip('"')
    s = load_settings({}, environ={"ENRICHER_CONFIRM_DAYS": plain}, cwd=Path("/"))
    assert s.config.confirm_days == pytest.approx(days)


def test_confirm_days_errors_say_a_plain_number_is_days() -> None:
    with pytest.raises(ConfigError, match=r"^ENRICHER_CONFIRM_DAYS: .*plain number.* days"):
        load_settings({}, environ={"ENRICHER_CONFIRM_DAYS": "soon"}, cwd=Path("/"))
    with pytest.raises(ConfigError, match=r"^ENRICHER_CONFIRM_DAYS: a duration cannot be negative"):
        load_settings({}, environ={"ENRICHER_CONFIRM_DAYS": "-1"}, cwd=Path("/"))


def test_only_keys_named_in_days_read_a_plain_number_as_days(tmp_path: Path) -> None:
    """Every other duration key reads a plain number as seconds (README: "Durations are
    written 50ms, 2s, 5m, 20h, 2d or as seconds")."""
    from enricher.settings import KEYS

    seconds_keys = {
        "host_request_interval": "fetch.host_request_interval",
        "timeout": "fetch.request_deadline",
        "connect_timeout": "fetch.connect_timeout",
        "read_timeout": "fetch.read_timeout",
        "dns_timeout": "fetch.dns_timeout",
        "retry_after_cap": "fetch.retry_after_cap",
        "max_age": "max_age",
    }
    assert {n for n in KEYS if n.endswith("_days")} == {"confirm_days"}  # tested above
    for name, target in seconds_keys.items():
        (tmp_path / "enricher.toml").write_text(f"{name} = 3\n", encoding="utf-8")
        config = load_settings({}, environ={}, cwd=tmp_path).config
        holder = config.fetch if target.startswith("fetch.") else config
        assert getattr(holder, target.removeprefix("fetch.")) == 3.0, name


def test_an_empty_out_is_an_error_not_the_working_folder(tmp_path: Path) -> None:
    """An empty --out / ENRICHER_OUT= / out = "" would mean "." (and, with the precedence
    rule, silently override a file's in_place); it is a one-line error naming the source."""
    with pytest.raises(ConfigError, match=r"^--out: empty folder name"):
        load_settings({"out": ""}, environ={}, cwd=tmp_path, search=False)
    (tmp_path / "enricher.toml").write_text("in_place = true\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^ENRICHER_OUT: empty folder name"):
        load_settings({}, environ={"ENRICHER_OUT": " "}, cwd=tmp_path)


def test_a_folder_that_cannot_be_searched_holds_no_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Run from another user's 0700 folder: no traceback, the search goes on above it; a
    config file that exists but cannot be read is one line naming it (exit 2)."""
    import errno

    from enricher import settings

    (tmp_path / "enricher.toml").write_text("host_concurrency = 2\n", encoding="utf-8")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_is_file = Path.is_file

    def is_file(path: Path) -> bool:  # as stat(2) in a folder without the x bit, even as root
        if path.parent == locked:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_is_file(path)

    monkeypatch.setattr(Path, "is_file", is_file)
    s = load_settings({}, environ={}, cwd=locked)
    assert s.source == str(tmp_path / "enricher.toml")
    assert s.config.fetch.host_concurrency == 2
    real_open = Path.open

    def unreadable(path: Path, *args: object, **kwargs: object) -> object:
        if path.name == "enricher.toml":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

    monkeypatch.setattr(Path, "open", unreadable)
    with pytest.raises(ConfigError) as caught:
        settings.find_config_file(locked)
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'enricher.toml'}: cannot read config file")
    assert "--config" in message and "\n" not in message


# --- audit: values of the wrong shape are one-line errors, never a traceback or a surprise --


@pytest.mark.parametrize("text", ['tool = "x"\n', "tool = 5\n"])
def test_a_pyproject_whose_tool_is_not_a_table_has_no_settings(tmp_path: Path, text: str) -> None:
    """Found on the way up it is someone else's file; named with --config it is an error."""
    (tmp_path / "pyproject.toml").write_text(text, encoding="utf-8")
    assert load_settings({}, environ={}, cwd=tmp_path).source is None
    with pytest.raises(ConfigError, match=r"pyproject\.toml: tool must be a table") as info:
        load_settings({}, config_file=str(tmp_path / "pyproject.toml"), environ={}, cwd=tmp_path)
    assert "\n" not in str(info.value)


def test_a_tool_enricher_that_is_not_a_table_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool]\nenricher = 5\n", encoding="utf-8")
    sub = tmp_path / "sub"
    sub.mkdir()
    message = r"pyproject\.toml: \[tool\.enricher\] must be a table of settings"
    with pytest.raises(ConfigError, match=message):
        load_settings({}, environ={}, cwd=sub)
    with pytest.raises(ConfigError, match=message):
        load_settings({}, config_file=str(tmp_path / "pyproject.toml"), environ={}, cwd=sub)


@pytest.mark.parametrize(
    ("accept", "message"),
    [
        ("100..=99999999999", "status codes are between 100 and 999, got '100..=99999999999'"),
        ("99..=200", "status codes are between 100 and 999, got '99..=200'"),
        ("1000", "status codes are between 100 and 999, got '1000'"),
        ("299..=200", "empty range '299..=200'; put the lower code first"),
        ("9" * 5000, "expected HTTP status codes"),
    ],
)
def test_accept_ranges_are_checked_before_they_are_built(
    monkeypatch: pytest.MonkeyPatch, accept: str, message: str
) -> None:
    from enricher import settings

    def small_range(lo: int, hi: int) -> range:  # the old code built range(100, 10**11)
        assert hi - lo <= 900, "a range of codes was built before its bounds were checked"
        return range(lo, hi)

    monkeypatch.setattr(settings, "range", small_range, raising=False)
    with pytest.raises(ConfigError) as info:
        load_settings({"accept": accept}, environ={}, cwd=Path("/"), search=False)
    assert str(info.value).startswith(f"--accept: {message}"), str(info.value)
    accepted = load_settings({"accept": "100..=999"}, environ={}, cwd=Path("/"), search=False)
    assert len(accepted.config.fetch.accepted_status) == 900


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"user_agent": "a\nb"}, r"^--user-agent: the value 'a\\nb' holds a line break"),
        ({"user_agent": "bot\x00"}, r"^--user-agent: the value .* control or non-ASCII"),
        ({"user_agent": "bøt/1.0"}, r"^--user-agent: the value 'bøt/1.0' holds"),
        ({"headers": ["X-A: é"]}, r"^--header: header X-A: the value 'é' holds"),
        ({"headers": ["X-A: a\x7fb"]}, r"^--header: header X-A: the value"),
    ],
)
def test_user_agent_and_header_values_are_visible_ascii(
    flags: dict[str, object], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        load_settings(flags, environ={}, cwd=Path("/"), search=False)
    assert "\n" not in str(info.value)
    fine = {"user_agent": " bot/1.0 (+https://x.example)\t", "headers": ["X-A: a b\tc"]}
    fetch = load_settings(fine, environ={}, cwd=Path("/"), search=False).config.fetch
    assert (fetch.user_agent, fetch.headers) == ("bot/1.0 (+https://x.example)", {"X-A": "a b\tc"})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('user_agent = "a\\nb"\n', r"enricher\.toml:\d+: user_agent: the value 'a\\nb' holds"),
        ('[hosts."x.example"]\nuser_agent = "a\\rb"\n', r"hosts\.x\.example\.user_agent: the val"),
        ('[hosts."x.example"]\nuser_agent = 5\n', r"hosts\.x\.example\.user_agent: expected a str"),
        ('[headers]\nX-A = "é"\n', r"enricher\.toml:\d+: headers: header X-A: the value 'é' holds"),
        ("[headers]\nX-A = [1]\n", r"headers: header X-A: expected a string, got \[1\]"),
    ],
)
def test_user_agent_and_headers_in_the_config_file(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "enricher.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_settings({}, environ={}, cwd=tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "timeout = nan\n",
        "timeout = inf\n",
        "host_request_interval = nan\n",
        "max_age = inf\n",
        "confirm_days = nan\n",
        '[hosts."x.example"]\ninterval = nan\n',
        f'retry_after_cap = "{"9" * 400}s"\n',  # digits past float's range are inf
    ],
)
def test_durations_must_be_finite(tmp_path: Path, text: str) -> None:
    (tmp_path / "enricher.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=r"enricher\.toml:\d+: .*expected a finite duration"):
        load_settings({}, environ={}, cwd=tmp_path)


def test_durations_must_be_finite_on_the_command_line_and_in_the_environment() -> None:
    with pytest.raises(ConfigError, match=r"^--timeout: expected a finite duration"):
        load_settings({"timeout": "9" * 400}, environ={}, cwd=Path("/"), search=False)
    with pytest.raises(ConfigError, match=r"^ENRICHER_MAX_AGE: expected a finite duration"):
        load_settings({}, environ={"ENRICHER_MAX_AGE": "9" * 400 + "h"}, cwd=Path("/"))
    for bad in (float("nan"), float("inf")):
        with pytest.raises(ValueError, match="finite"):
            parse_duration(bad)


@pytest.mark.parametrize(
    ("text", "key"),
    [
        ("out = []\n", "out"),
        ("state = 5\n", "state"),
        ("user_agent = {a = 1}\n", "user_agent"),
        ("results = false\n", "results"),
        ("proxy = 8080\n", "proxy"),
        ("ca_bundle = true\n", "ca_bundle"),
        ("dns_canary = 1\n", "dns_canary"),
        ("report = [5]\n", "report"),
    ],
)
def test_string_keys_are_not_coerced_with_str(tmp_path: Path, text: str, key: str) -> None:
    """``out = []`` once made a folder named ``[]``; ``results = false`` a file ``False``."""
    (tmp_path / "enricher.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"enricher\.toml:\d+: {key}: expected a (list of )?str"):
        load_settings({}, environ={}, cwd=tmp_path)


def test_no_state_still_means_no_history() -> None:
    assert load_settings({"state": ""}, environ={}, cwd=Path("/")).config.state_file is None


@pytest.mark.parametrize("value", ["", " ", ",", []])
def test_an_empty_fail_on_is_an_error(tmp_path: Path, value: object) -> None:
    """README: --fail-on names the statuses that make the exit status 1 (default dead);
    an empty one would silently never fail, and the summary showed "fail-on "."""
    if isinstance(value, str):
        with pytest.raises(ConfigError, match=r"^--fail-on: give at least one status"):
            load_settings({"fail_on": value}, environ={}, cwd=Path("/"), search=False)
    (tmp_path / "enricher.toml").write_text(f"fail_on = {value!r}\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"enricher\.toml:\d+: fail_on: give at least one status"):
        load_settings({}, environ={}, cwd=tmp_path)


def test_a_switch_the_config_file_turns_on_can_be_turned_off_by_its_no_flag(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``fill_missing = true`` in the file could be undone only by ENRICHER_FILL_MISSING=0;
    every switch now has its ``--no-`` form, and no flag leaves the file's value."""
    import io

    from enricher.cli import Env, _settings, build_parser

    (tmp_path / "enricher.toml").write_text(
        "in_place = true\nfill_missing = true\nallow_private = true\nprune_dead = true\n",
        encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    env = Env(stdin=io.StringIO(), stdout=io.StringIO(), stderr=io.StringIO(), environ={})

    def config(*flags: str) -> Any:
        return _settings(build_parser().parse_args(["enrich", "x", *flags]), env).config

    kept = config()
    assert (kept.in_place, kept.fill_missing, kept.prune_dead, kept.fetch.allow_private) == (
        True, True, True, True)
    off = config("--no-in-place", "--no-fill-missing", "--no-prune-dead", "--no-allow-private")
    assert (off.in_place, off.fill_missing, off.prune_dead, off.fetch.allow_private) == (
        False, False, False, False)
    assert off.out_dir == "enriched"


def test_a_config_file_saved_with_a_bom_is_read(tmp_path: Path) -> None:
    """Notepad saves UTF-8 with a byte-order mark, which TOML does not allow: the file gave
    "Invalid statement (at line 1, column 1)" and no word of the BOM."""
    (tmp_path / "enricher.toml").write_bytes(b"\xef\xbb\xbfmax_concurrency = 7\n")
    assert load_settings({}, environ={}, cwd=tmp_path).config.fetch.max_concurrency == 7


def test_another_projects_broken_pyproject_above_does_not_stop_every_command(
    tmp_path: Path
) -> None:
    """Run inside some other project's folder: its pyproject.toml, broken or not, is none of
    ours unless it names enricher; one that does is read, and its errors are ours."""
    (tmp_path / "pyproject.toml").write_text("[project\nname = 'other'\n", encoding="utf-8")
    work = tmp_path / "news"
    work.mkdir()
    config = load_settings({}, environ={}, cwd=work).config
    assert config.fetch.max_concurrency == DEFAULT_MAX_CONCURRENCY
    (tmp_path / "pyproject.toml").write_text("[tool.enricher\nmax_concurrency = 3\n",
                                             encoding="utf-8")
    with pytest.raises(ConfigError, match=r"pyproject\.toml: .*; fix the TOML syntax"):
        load_settings({}, environ={}, cwd=work)


# --- from an audit of configuration sources ---------------------------------------------------

@pytest.mark.parametrize("kind", ["broken symlink", "folder"])
def test_an_enricher_toml_that_is_no_file_stops_the_search(tmp_path: Path, kind: str) -> None:
    """A broken enricher.toml symlink (its target moved) or a folder of that name in the
    working folder is an error naming it: the search used to pass over it to a file above
    or to the defaults, and a cron job ran with other settings (out instead of in_place)."""
    (tmp_path / "enricher.toml").write_text('out = "parent-out"\n', encoding="utf-8")
    site = tmp_path / "site"
    site.mkdir()
    if kind == "folder":
        (site / "enricher.toml").mkdir()
    else:
        (site / "enricher.toml").symlink_to(site / "moved.toml")
    with pytest.raises(ConfigError, match=r"site/enricher\.toml: is no regular file"):
        load_settings({}, environ={}, cwd=site)


def test_an_unreadable_pyproject_above_never_stops_a_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Another project's pyproject.toml that cannot be read (its owner's 0600) is passed
    over, as a broken one is (a run as root cannot lose read access: simulated)."""
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[tool.enricher]\nmax_attempts = 2\n", encoding="utf-8")
    real = Path.read_bytes

    def denied(self: Path) -> bytes:
        if self == pyproject:
            raise PermissionError(13, "Permission denied", str(self))
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", denied)
    settings = load_settings({}, environ={}, cwd=tmp_path)
    assert settings.source is None and settings.config.fetch.max_attempts == 3


@pytest.mark.parametrize("value", ["9223372036854775808", "1000001"])
def test_counts_have_an_upper_bound(tmp_path: Path, value: str) -> None:
    """A 20-digit confirm_runs (or 1e300 in TOML) passed every check and crashed the
    history's SQL after the whole fetch (exit 1, a traceback, an unfinished run)."""
    with pytest.raises(ConfigError, match=r"ENRICHER_CONFIRM_RUNS: at most 1,000,000"):
        load_settings({}, environ={"ENRICHER_CONFIRM_RUNS": value}, search=False)
    (tmp_path / "enricher.toml").write_text("confirm_runs = 1e300\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"enricher\.toml:\d+: confirm_runs: at most 1,000,000"):
        load_settings({}, environ={}, cwd=tmp_path)
    assert load_settings({"max_concurrency": 1_000_000}, environ={}, search=False)


@pytest.mark.parametrize("canary", ["https://example.com", "exa mple.com", "example.com/x"])
def test_the_dns_canary_must_be_a_host_name(canary: str) -> None:
    """A canary that can never be found makes every NXDOMAIN dns_error, night after night."""
    with pytest.raises(ConfigError, match=r"ENRICHER_DNS_CANARY: .* is not a host name"):
        load_settings({}, environ={"ENRICHER_DNS_CANARY": canary}, search=False)
    for ok, expected in (("example.org", "example.org"), ("", None)):
        settings = load_settings({}, environ={"ENRICHER_DNS_CANARY": ok}, search=False)
        assert settings.config.fetch.dns_canary == expected


def test_an_empty_or_tableless_config_given_by_name_is_an_error(tmp_path: Path) -> None:
    """--config "$UNSET" searched upwards as if no --config was given, and --config
    pyproject.toml without [tool.enricher] ran on defaults, both without a word."""
    with pytest.raises(ConfigError, match=r"--config: empty file name"):
        load_settings({}, config_file="", environ={}, cwd=tmp_path)
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text("[project]\nname = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"has no \[tool\.enricher\] table"):
        load_settings({}, config_file=str(pyproject), environ={}, cwd=tmp_path)


def test_accept_takes_one_code_as_a_number(tmp_path: Path) -> None:
    """accept = 403 said "expected a list of strings"; the documented form is numbers."""
    config = tmp_path / "enricher.toml"
    config.write_text("accept = 403\n", encoding="utf-8")
    settings = load_settings({}, environ={}, cwd=tmp_path)
    assert settings.config.fetch.accepted_status == frozenset({403})


@pytest.mark.parametrize(("text", "line", "message"), [
    ('# x\nmax_concurrency = 64\ntimeout = "5x"\n', 3, "timeout: expected a duration"),
    ('max_concurrency = 64\ntimeuot = "5s"\n', 2, "unknown key 'timeuot'"),
    ('[hosts."www.example.com"]\nconcurrency = 1\ninterval = "2q"\n', 3,
     "hosts.www.example.com.interval: expected a duration"),
    ("[hosts.'a.com']\nconcurency = 1\n", 2, "hosts.a.com: unknown key 'concurency'"),
    ('[hosts."https://x.com"]\nconcurrency = 1\n', 1, "hosts.https://x.com: not a host name"),
    ('in_place = true\n\nout = "x"\n', 3, "in_place and out exclude each other"),
    ('"max_attempts" = 0  # quoted key\n', 1, "max_attempts: expected a number of at least 1"),
])
def test_config_value_errors_name_the_line(tmp_path: Path, text: str, line: int,
                                           message: str) -> None:
    """A value error in the config file names its line, as TOML syntax errors do (only the
    file and the key were named)."""
    (tmp_path / "enricher.toml").write_text(text, encoding="utf-8")
    with pytest.raises(ConfigError) as caught:
        load_settings({}, environ={}, cwd=tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'enricher.toml'}:{line}: {message}")


def test_config_value_errors_name_the_line_in_pyproject(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[project]\nmax_attempts = 1\n\n[tool.enricher]\nmax_attempts = 0\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"pyproject\.toml:5: max_attempts: expected"):
        load_settings({}, environ={}, cwd=tmp_path)
