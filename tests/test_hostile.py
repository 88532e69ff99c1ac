"""Every row of ``../shared/hostile.md`` as a test (``test_row[rowNN]``), through the highest
layer that can show it, with the run going on, the exit status and time (and, for size rows,
memory) bounds.

Most rows run inside a few shared *worlds*: one whole pipeline run (``enricher.app.run``,
in-process, a fake resolver, real servers on 127.0.0.1) holding one record per row plus
control records, so every row is also a check that the other rows' hostile records do not
disturb it. Each row test reads its own record's outcomes from its world:

* ``world_a``  ``check``, address policy ON: URL strings and DNS (rows 1-12, 14-17, 19-21).
  A NetServer listens on the port the hostile URLs name; it must see no connection at all.
  The control record's host is NXDOMAIN (dead): with the policy on, nothing local can answer.
* ``world_b``  ``enrich --in-place``, policy off (the subject is the server, not the address):
  hostile servers, HTML and YAML (rows 13, 15, 23-39, 42-54), all served at once by one
  NetServer, under ``tracemalloc``. The control record is an ordinary page and is enriched.
* ``world_c``  the Fetcher, policy ON, with ``LoopbackNetwork`` dialling 127.0.0.1 whatever
  vetted public IP the guard chose (``app.run`` has no network seam): a normal public page
  is fetched while hostile literals, rebinding, internal redirects and internal page images
  are refused (rows 1-8, 20, 22, 44).
* ``world_d``  ``enrich --in-place`` twice on a small tree: modes, symlinks, reruns
  (rows 57, 58, 60). Rows 18, 40, 41, 55, 56, 59 have their own set-ups.

Exit statuses are those of ``enricher.cli.exit_code`` for the row's own records
(``World.exit``), and for the whole world where it matters.

Decisions (README security section):

* mixed public/private DNS answers: the guard refuses the whole host (``MIXED_DNS``);
* ports: below 1024 only 80 and 443, others skipped; 1024 and above allowed (``PORTS``);
* symlinked records: followed, the target is rewritten, the link stays a link (``SYMLINKS``);
* a same-host redirect to a login page: ``blocked``/``login_redirect``, the original URL
  stays, no metadata from the login page (``LOGIN_REDIRECT``, in ``classify``);
* surrounding whitespace in URL values: stripped, then validated (``WHITESPACE``);
* userinfo (``user@host``) is ``invalid``/``userinfo``, never sent (``USERINFO``).

Row -> test (``test_row[rowNN]`` is always the main test; the named tests elsewhere cover the
same row at a lower layer and are checked to exist by ``test_referenced_tests_exist``):

| row | test_hostile.py | also |
| --- | --- | --- |
| 1 | test_row[row01] (worlds A, C) | test_guard.py::test_names_resolving_to_loopback_are_refused |
| 2 | test_row[row02] (worlds A, C) | test_guard.py::test_literal_hosts_are_refused_before_any_lookup |
| 3 | test_row[row03] (worlds A, C) | test_guard.py::test_forbidden_addresses |
| 4 | test_row[row04] (worlds A, C) | test_guard.py::test_numeric_names_are_caught_after_system_resolution |
| 5 | test_row[row05] (world A) | test_urls.py::test_rejected_with_reason |
| 6 | test_row[row06] (worlds A, C) | test_guard.py::test_forbidden_addresses |
| 7 | test_row[row07] (worlds A, C) | test_guard.py::test_forbidden_addresses |
| 8 | test_row[row08] (worlds A, C) | test_guard.py::test_forbidden_addresses |
| 9 | test_row[row09] (world A) | test_urls.py::test_httpx_agrees_on_the_hosts_we_refuse_for_userinfo |
| 10 | test_row[row10] (world A) | test_urls.py::test_hostile_hosts_pass_cleaning_with_the_host_httpx_uses |
| 11 | test_row[row11] (world A) | test_fuzz.py::test_clean_url_host_is_the_host_httpx_connects_to |
| 12 | test_row[row12] (world A) | test_urls.py::test_rejected_with_reason |
| 13 | test_row[row13] (world B) | test_urls.py::test_idn_and_punycode_give_the_same_url |
| 14 | test_row[row14] (world A) | test_guard.py::test_schemes_and_ports |
| 15 | test_row[row15] (worlds A, B) | test_urls.py::test_rejected_with_reason |
| 16 | test_row[row16] (world A) | test_urls.py::test_allowed_low_ports_is_the_policy |
| 17 | test_row[row17] (world A) | test_urls.py::test_rejected_with_reason |
| 18 | test_row[row18] (own run) | test_links.py::test_url_cap_per_record |
| 19 | test_row[row19] (world A) | test_guard.py::test_mixed_answers_refuse_the_whole_host |
| 20 | test_row[row20] (worlds A, C) | test_guard.py::test_rebinding_fails_one_lookup_per_host_and_dial_the_vetted_ip |
| 21 | test_row[row21] (world A) | test_guard.py::test_dns_failures_are_classified_and_bounded |
| 22 | test_row[row22] (world C) | test_guard.py::test_redirects_to_internal_addresses_are_blocked_at_that_hop |
| 23 | test_row[row23] (world B) | test_fetch.py::test_redirect_loop_and_hop_cap |
| 24 | test_row[row24] (world B) | test_fetch.py::test_non_web_and_malformed_locations |
| 25 | test_row[row25] (world B) | test_fetch.py::test_redirect_bodies_are_never_read |
| 26 | test_row[row26] (world B) | test_fetch.py::test_relative_location_is_resolved_against_the_current_url |
| 27 | test_row[row27] (world B) | test_fetch.py::test_no_cookies_or_credentials_are_sent |
| 28 | test_row[row28] (world B) | test_hostile.py::test_login_redirect_rule |
| 29 | test_row[row29] (world B) | test_fetch.py::test_huge_content_length_is_not_read |
| 30 | test_row[row30] (world B) | test_fetch.py::test_endless_chunked_body_stops_at_the_cap |
| 31 | test_row[row31] (world B) | test_fetch.py::test_compression_bombs_stop_at_the_cap_in_bounded_memory |
| 32 | test_row[row32] (world B) | test_fetch.py::test_stacked_and_unknown_encodings_are_refused |
| 33 | test_row[row33] (world B) | test_body.py::test_refused_codings |
| 34 | test_row[row34] (world B) | test_fetch.py::test_lying_or_truncated_encoding_gives_no_body |
| 35 | test_row[row35] (world B) | test_fetch.py::test_slowloris_ends_at_the_deadline |
| 36 | test_row[row36] (world B) | test_fetch.py::test_silent_server_and_full_backlog_time_out |
| 37 | test_row[row37] (world B) | test_fetch.py::test_header_bomb_and_short_body_are_protocol_errors |
| 38 | test_row[row38] (world B) | test_fetch.py::test_header_bomb_and_short_body_are_protocol_errors |
| 39 | test_row[row39] (world B) | test_fetch.py::test_non_html_pages_are_not_read_but_reachable |
| 40 | test_row[row40] (own run) | test_fetch.py::test_transient_statuses_are_retried_and_dead_ones_never |
| 41 | test_row[row41] (own run) | test_guard.py::test_tls_verifies_the_name_while_dialing_the_vetted_ip |
| 42 | test_row[row42] (world B) | test_extract.py::test_140000_nested_divs_finish_fast_row_42 |
| 43 | test_row[row43] (world B) | test_extract.py::test_5_mb_title_and_control_characters_row_43 |
| 44 | test_row[row44] (worlds B, C) | test_extract.py::test_hostile_image_urls_row_44 |
| 45 | test_row[row45] (world B) | test_decode.py::test_meta_charset_shift_jis |
| 46 | test_row[row46] (world B) | test_extract.py::test_canonical_to_an_internal_host_is_only_returned_row_46 |
| 47 | test_row[row47] (world B) | test_records.py::test_python_tag_executes_nothing |
| 48 | test_row[row48] (world B) | test_records.py::test_alias_bomb_is_cut_off_without_expanding_it |
| 49 | test_row[row49] (world B) | test_records.py::test_recursive_alias_does_not_recurse |
| 50 | test_row[row50] (world B) | test_records.py::test_bad_fixture_is_a_record_error |
| 51 | test_row[row51] (world B) | test_records.py::test_yaml11_coercions_are_not_our_business |
| 52 | test_row[row52] (world B) | test_records.py::test_front_matter_variants_read |
| 53 | test_row[row53] (world B) | test_links.py::test_unusable_values_give_a_slot_without_url |
| 54 | test_row[row54] (world B) | test_records.py::test_hostile_titles_round_trip |
| 55 | test_row[row55] (subprocesses, kill -9) | test_state.py::test_resume_survives_a_killed_process_losing_at_most_one_batch |
| 56 | test_row[row56] (own run + subprocess) | test_records.py::test_write_atomic_failure_keeps_original |
| 57 | test_row[row57] (world D) | test_records.py::test_write_atomic_keeps_mode_and_leaves_no_temp |
| 58 | test_row[row58] (world D) | test_records.py::test_symlinks |
| 59 | test_row[row59] (own runs + CLI) | test_state.py::test_a_second_open_fails_at_once_until_the_first_closes |
| 60 | test_row[row60] (world D) | test_records.py::test_write_record_only_when_bytes_differ |
"""  # noqa: E501

from __future__ import annotations

import asyncio
import contextlib
import difflib
import importlib
import io
import os
import random
import re
import resource
import signal
import socket
import sqlite3
import ssl
import stat
import sys
import time
import tracemalloc
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import brotli  # type: ignore[import-untyped]
import httpx
import pytest
import trustme
import yaml
from netserver import (
    Conn,
    FakeResolver,
    LoopbackNetwork,
    NetServer,
    Request,
    gzip_bomb,
    gzipped,
    page,
)
from rich.console import Console

from enricher import app, records
from enricher.cli import Env, ExitCode, exit_code, main
from enricher.config import (
    DEFAULT_ALLOWED_LOW_PORTS,
    DEFAULT_FAIL_ON,
    DEFAULT_MAX_URLS_PER_RECORD,
    DEFAULT_PAGE_BYTES,
    DEFAULT_RETRY_AFTER_CAP,
    DEFAULT_STATE_FILE,
    DEFAULT_TITLE_MAX_CHARS,
    Config,
    FetchConfig,
    HostPolicy,
)
from enricher.models import FetchResult, LinkKind, LinkResult, LinkStatus, RunResult
from enricher.net.body import RAW_SLACK
from enricher.net.fetch import Fetcher
from enricher.net.urls import CleanURL, clean_url
from enricher.outcome import interpret
from enricher.progress import QuietReporter
from enricher.state import History, StateLocked

# --- decisions (README security section) ----------------------------------------------------

MIXED_DNS = "reject_host"  # any forbidden address among the answers refuses the whole host
PORTS = "below 1024 only 80/443 (others skipped, forbidden_port); 1024-65535 allowed"
SYMLINKS = "follow: the target is rewritten atomically, the link stays a link"
LOGIN_REDIRECT = "blocked/login_redirect: original URL kept, login page never extracted"
WHITESPACE = "strip surrounding whitespace, then validate"
USERINFO = "invalid/userinfo: credentials in a URL are never sent"

PUBLIC = "93.184.216.34"
DEADLINE = 1.5  # request_deadline in these worlds, seconds
MARGIN = 0.75  # seconds a request may overrun its deadline (scheduling, a loaded 2-core CI box)
OURS = frozenset({"linkCheck", "livePage"})
_CONTROLS = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def fetch_config(**overrides: Any) -> FetchConfig:
    values: dict[str, Any] = dict(
        connect_timeout=0.5, read_timeout=0.5, request_deadline=DEADLINE, max_attempts=1,
        host_request_interval=0.0, dns_timeout=0.3, backoff_base=0.0, backoff_max=0.0,
        retry_after_cap=2.0, dns_canary="canary.test",  # rows 14/16 count example.com lookups
    )
    values.update(overrides)
    return FetchConfig(**values)


# --- records --------------------------------------------------------------------------------

def q(value: str) -> str:
    """A double-quoted YAML scalar (escapes control characters)."""
    out = yaml.dump(value, default_style='"', allow_unicode=True, width=1 << 30)
    return out.removesuffix("\n...\n").rstrip("\n")


def record_text(title: str, urls: Sequence[str], *, key: str = "webUrl", head: str = "",
                body: str = "Body text.\n") -> str:
    """A record whose ``related[i].<key>`` holds ``urls[i]``."""
    lines = ["---", f"title: {q(title)}"]
    if head:
        lines.append(head.rstrip("\n"))
    if urls:
        lines.append("related:")
        lines += [f"  - {key}: {q(u)}" for u in urls]
    return "\n".join([*lines, "---", body])


def fields(n: int, key: str = "webUrl") -> list[str]:
    return [f"related[{i}].{key}" for i in range(n)]


def front(raw: bytes) -> Any:
    text = raw.decode("utf-8").lstrip("\ufeff")
    match = re.match(r"---[ \t]*\r?\n(.*?)^(?:---|\.\.\.)[ \t]*\r?$", text, re.S | re.M)
    assert match, raw[:200]
    return yaml.safe_load(match.group(1))


def strip_ours(data: Any) -> Any:
    if isinstance(data, dict):
        return {k: strip_ours(v) for k, v in data.items() if k not in OURS}
    if isinstance(data, list):
        return [strip_ours(v) for v in data]
    return data


def assert_only_our_keys_added(old: bytes, new: bytes) -> None:
    """Every old line is still there, unchanged and in order; only our keys were added."""
    a, b = old.splitlines(keepends=True), new.splitlines(keepends=True)
    for tag, *_ in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        assert tag in ("equal", "insert"), (tag, old, new)
    assert strip_ours(front(new)) == strip_ours(front(old))


# --- a world: one pipeline run --------------------------------------------------------------

@dataclass(frozen=True, slots=True)
class Slot:
    status: str
    reason: str
    result: LinkResult | None


@dataclass
class World:
    run: RunResult
    elapsed: float
    root: Path
    before: dict[str, bytes]
    after: dict[str, bytes]
    log: str
    peak: int = 0
    servers: dict[str, NetServer] = field(default_factory=dict)
    resolver: FakeResolver | None = None
    ports: dict[str, int] = field(default_factory=dict)
    index: dict[tuple[str, str], Slot] = field(default_factory=dict)
    flags: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for result in self.run.results:
            for origin in result.sources:
                key = (Path(origin.file).name, origin.field)
                self.index[key] = Slot(result.status.value, result.reason, result)
        for ref in self.run.slot_results:
            assert ref.status is not None
            key = (Path(ref.origin.file).name, ref.origin.field)
            self.index[key] = Slot(ref.status.value, ref.reason or "", None)

    def slot(self, file: str, field_path: str) -> Slot:
        return self.index[(file, field_path)]

    def slots(self, file: str, n: int, key: str = "webUrl") -> list[Slot]:
        return [self.slot(file, f) for f in fields(n, key)]

    def only(self, file: str) -> RunResult:
        def mine(name: str) -> bool:
            return Path(name).name == file

        run = self.run
        return replace(
            run,
            results=tuple(r for r in run.results if any(mine(s.file) for s in r.sources)),
            slot_results=tuple(s for s in run.slot_results if mine(s.origin.file)),
            record_errors=tuple(e for e in run.record_errors if mine(e.file)),
        )

    def exit(self, file: str, fail_on: frozenset[str] = DEFAULT_FAIL_ON) -> ExitCode:
        return exit_code(self.only(file), fail_on)

    def errors(self, file: str) -> list[str]:
        return [str(e) for e in self.run.record_errors if Path(e.file).name == file]

    def arrivals(self, path_prefix: str, server: str = "main") -> list[str]:
        return [a.target for a in self.servers[server].arrivals if a.target.startswith(path_prefix)]


def write_records(root: Path, texts: Mapping[str, str | bytes], ports: Mapping[str, int]
                  ) -> dict[str, bytes]:
    root.mkdir(parents=True, exist_ok=True)
    out = {}
    for name, text in texts.items():
        if isinstance(text, str):
            for key, port in ports.items():
                text = text.replace("{" + key + "}", str(port))
            data = text.encode("utf-8")
        else:
            data = text
        (root / name).write_bytes(data)
        out[name] = data
    return out


async def pipeline(root: Path, config: Config, *, write: bool,
                   resolver: FakeResolver) -> tuple[RunResult, float, str]:
    log = io.StringIO()
    reporter = QuietReporter(Console(file=log, force_terminal=False, width=300), False)
    if config.state_file == DEFAULT_STATE_FILE:  # never a history in the working folder
        config = replace(config, state_file=None)
    started = time.monotonic()
    run = await app.run("enrich" if write else "check", [str(root)], config, reporter,
                        write=write, resolver=resolver)
    return run, time.monotonic() - started, log.getvalue()


def snapshot(root: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(root.iterdir()) if p.is_file()}


def within_deadline(result: LinkResult, deadline: float = DEADLINE) -> None:
    assert result.elapsed_ms <= (deadline + MARGIN) * 1000, result


Handler = Callable[[Request, Conn], Awaitable[None]]


def prefix_route(table: Mapping[str, Handler]) -> Handler:
    """Dispatch on the longest matching path prefix."""
    ordered = sorted(table, key=len, reverse=True)

    async def handler(request: Request, conn: Conn) -> None:
        for prefix in ordered:
            if request.target.startswith(prefix):
                await table[prefix](request, conn)
                return
        await conn.respond(404, page("Not found"))

    return handler


def html(title: str = "A page", head: str = "", body: str = "<p>text</p>") -> bytes:
    return (f"<!doctype html><html><head><title>{title}</title>{head}</head>"
            f"<body>{body}</body></html>").encode()


def serve(data: bytes, status: int = 200, headers: Sequence[tuple[str, str]] = (),
          content_type: str | None = "text/html; charset=utf-8") -> Handler:
    async def handler(request: Request, conn: Conn) -> None:
        await conn.respond(status, data, headers, content_type=content_type)
    return handler


def redirect(location: str | Callable[[], str] | None, status: int = 302,
             extra: Sequence[tuple[str, str]] = ()) -> Handler:
    async def handler(request: Request, conn: Conn) -> None:
        where = location() if callable(location) else location
        headers = [("Location", where)] if where is not None else []
        await conn.respond(status, b"", [*headers, *extra])
    return handler


def raw(data: bytes, *, hold: bool = False, close: bool = False) -> Handler:
    async def handler(request: Request, conn: Conn) -> None:
        await conn.send(data)
        if close:
            conn.close()
        elif hold:
            await asyncio.Event().wait()
    return handler


# === world A: URL strings and DNS, policy on =================================================

A_URLS: dict[int, list[str]] = {
    1: ["http://127.0.0.1:{port}/", "http://localhost:{port}/", "http://LOCALHOST:{port}/",
        "http://localhost.:{port}/", "http://127.0.0.1/", "http://localhost/"],
    2: ["http://169.254.169.254/latest/meta-data/", "http://[fd00:ec2::254]/",
        "http://100.100.100.100/"],
    3: ["http://0.0.0.0:{port}/", "http://0:{port}/", "http://[::]:{port}/", "http://0.1.2.3/"],
    4: ["http://2130706433:{port}/", "http://0x7f000001:{port}/", "http://0x7f.1:{port}/",
        "http://0x7f.0x0.0x0.0x1:{port}/", "http://127.1:{port}/", "http://01200034567/",
        "http://[000:0:0000::01]:{port}/"],
    5: ["http://0177.0.0.1/", "http://127.000.000.001/", "http://012.1.2.3/"],
    6: ["http://[::ffff:127.0.0.1]:{port}/", "http://[::ffff:7f00:1]:{port}/",
        "http://[0:0:0:0:0:ffff:127.0.0.1]:{port}/", "http://[::ffff:169.254.169.254]/",
        "http://[::127.0.0.1]:{port}/"],
    7: ["http://[64:ff9b::a9fe:a9fe]/", "http://[64:ff9b:1::a00:1]/",
        "http://[2002:a9fe:a9fe::1]/", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/"],
    8: ["http://100.64.0.1/", "http://224.0.0.1/", "http://239.255.255.250/",
        "http://240.0.0.1/", "http://255.255.255.255/", "http://[ff02::1]/", "http://[fec0::1]/",
        "http://192.0.0.170/", "http://198.18.0.1/", "http://192.0.2.1/"],
    9: ["http://evil.example@127.0.0.1:{port}/", "http://127.0.0.1:{port}#@evil.example/"],
    10: ["http://127.0.0.1:{port}@evil.example/", "http://evil.example#@127.0.0.1:{port}/",
         "http://127.0.0.1:80\\@evil.example/", "http://127.0.0.1%2523@evil.example/"],
    11: ["http://example.com\u3002evil.example/"],
    12: ["http://exa\u200bmple.com/", "http://\u2460\u2461\u2466.\u24ea.\u24ea.\u2460/",
         "http://\uff05\uff13\uff11\uff12\uff17.0.0.1/"],
    14: ["file:///etc/passwd", "gopher://127.0.0.1:{port}/_INFO", "ftp://example.com/",
         "javascript:alert(1)", "data:text/html,hi", "mailto:a@b"],
    15: [" http://127.0.0.1:{port}/", "http://127.0.0.1\t/",
         "http://example.com/\r\nX-Injected: 1"],
    16: ["http://example.com:0/", "http://example.com:65536/", "http://example.com:-1/",
         "http://example.com:22/", "http://example.com:25/", "http://internal.test:6379/",
         "http://127.0.0.1:6379/"],
    17: ["//example.com/x", "example.com", "/relative"],
    19: ["http://mixed.test/a", "http://mixed.test/b"],
    20: ["http://rebind.test:{port}/1", "http://rebind.test:{port}/2",
          "http://rebind.test:{port}/3"],
    21: ["http://nx.test/", "http://servfail.test/",
         *[f"http://hang{i}.test/" for i in range(60)]],
}
HANG = frozenset(f"hang{i}.test" for i in range(60))  # more than the 32 DNS threads; with
# more, world A (few names answer: the rest are literals refused unasked) looks like an outage
BLOCKED = ("blocked", "forbidden_address")


def a_resolver() -> FakeResolver:
    loop = ["127.0.0.1", "::1"]
    numeric = {n: ["127.0.0.1"] for n in
               ("2130706433", "0x7f000001", "0x7f.1", "0x7f.0x0.0x0.0x1", "127.1")}
    return FakeResolver({
        "localhost": loop, "localhost.": loop, "0": ["0.0.0.0"], **numeric,  # as glibc answers
        "01200034567": ["10.0.57.119"], "evil.example": ["10.6.6.6"],
        "example.com.evil.example": ["10.0.0.2"], "internal.test": ["10.0.0.1"],
        "mixed.test": [PUBLIC, "10.0.0.1"], "canary.test": [PUBLIC],
        "rebind.test": lambda n: ["127.0.0.1"] if n == 1 else [PUBLIC],
        "servfail.test": socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution"),
    }, hang=HANG)


@pytest.fixture(scope="module")
def world_a(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("world_a")
    resolver = a_resolver()
    config = Config(fetch=fetch_config(allow_private=False))

    async def silent(request: Request, conn: Conn) -> None:
        await conn.respond(200, html("leaked"))

    async def build() -> World:
        async with NetServer(silent) as srv:
            texts = {f"row{n:02d}.md": record_text(f"row {n}", urls) for n, urls in A_URLS.items()}
            texts["control.md"] = record_text("control", ["http://gone.test/"])
            before = write_records(root, texts, {"port": srv.port})
            run, elapsed, log = await pipeline(root, config, write=False, resolver=resolver)
            return World(run, elapsed, root, before, snapshot(root), log, servers={"main": srv},
                         resolver=resolver, ports={"port": srv.port})

    return asyncio.run(build())


def check_a(w: World, row: int, expected: Sequence[tuple[str, str] | tuple[str, set[str]]]
            ) -> list[Slot]:
    """Row ``row`` of world A: its slots as expected, nothing reached the server, the control
    record went on, the row's own exit status, the run's time bound."""
    file = f"row{row:02d}.md"
    got = w.slots(file, len(A_URLS[row]))
    for slot, (status, reason), url in zip(got, expected, A_URLS[row], strict=True):
        reasons = reason if isinstance(reason, set) else {reason}
        assert (slot.status, slot.reason) in {(status, r) for r in reasons}, (url, slot)
        if slot.result is not None:
            within_deadline(slot.result)
    assert w.servers["main"].connections == 0  # never a request, whatever the row
    assert w.slot("control.md", "related[0].webUrl").reason == "dns"  # the other record went on
    assert w.run.records.read == len(A_URLS) + 1 and not w.run.record_errors
    assert w.after == w.before  # check never writes
    statuses = {s.status for s in got}
    # blocked/invalid/skipped/timeout/error never fail a run by default; NXDOMAIN is dead
    assert w.exit(file) == (ExitCode.LINKS_FAILED if "dead" in statuses else ExitCode.OK)
    if statuses & {"blocked"}:
        assert w.exit(file, frozenset({"blocked"})) == ExitCode.LINKS_FAILED
    assert w.elapsed < 3.0
    return got


# === world C: the Fetcher, policy on, LoopbackNetwork =========================================

C_PAGES = {
    "/ok": html("Public page"),
    "/img-literal": html("Internal image", '<meta property="og:image" '
                                           'content="http://127.0.0.1:{port}/x.png">'),
    "/img-name": html("Internal image name", '<meta property="og:image" '
                                             'content="http://inner.test:{port}/x.png">'),
}
C_REDIRECTS = {  # row 22
    "/r22/1": "http://127.0.0.1:{port}/secret",
    "/r22/2": "http://[::ffff:127.0.0.1]:{port}/secret",
    "/r22/3": "http://2130706433:{port}/secret",
    "/r22/4": "http://169.254.169.254/latest/meta-data/",
}


@dataclass
class WorldC:
    results: dict[str, LinkResult]
    images: dict[str, FetchResult]
    server: NetServer
    network: LoopbackNetwork
    resolver: FakeResolver
    port: int
    rejected: dict[str, str]  # hostile URL strings refused by clean_url before the Fetcher
    elapsed: float

    def at(self, path: str) -> LinkResult:
        return next(r for u, r in self.results.items() if u.endswith(path))


@pytest.fixture(scope="module")
def world_c() -> WorldC:
    resolver = a_resolver()  # the same answers as world A, plus a public name
    resolver.hang = frozenset()
    resolver.table.update({"a.test": [PUBLIC], "inner.test": ["10.0.0.1"],
                           "rebind.test": lambda n: [PUBLIC] if n == 1 else ["127.0.0.1"]})
    network = LoopbackNetwork()
    config = fetch_config(allow_private=False)
    hostile = [u for n in (1, 2, 3, 4, 6, 7, 8) for u in A_URLS[n]]

    async def build() -> WorldC:
        holder: dict[str, int] = {}

        async def handler(request: Request, conn: Conn) -> None:
            port = holder["port"]
            if request.path in C_REDIRECTS:
                target = C_REDIRECTS[request.path].replace("{port}", str(port))
                await conn.respond(302, b"", [("Location", target)])
            elif request.path in C_PAGES:
                body = C_PAGES[request.path].replace(b"{port}", str(port).encode())
                await conn.respond(200, body)
            elif request.path.startswith("/rebind/"):
                await conn.respond(200, html("rebind"), close=True)  # a new connection each
            else:
                await conn.respond(404, html("Not found"))

        async with NetServer(handler) as srv:
            holder["port"] = srv.port
            todo: list[tuple[str, LinkKind]] = []
            rejected: dict[str, str] = {}
            wanted = [srv.url("a.test", p) for p in [*C_PAGES, *C_REDIRECTS]]
            wanted += [srv.url("rebind.test", f"/rebind/{i}") for i in range(4)]
            for text in [*wanted, *(u.replace("{port}", str(srv.port)) for u in hostile)]:
                cleaned = clean_url(text)
                if isinstance(cleaned, CleanURL):
                    todo.append((cleaned.url, LinkKind.PAGE))
                else:
                    rejected[text] = cleaned.reason
            results: dict[str, LinkResult] = {}
            images: dict[str, FetchResult] = {}
            cfg = Config(fetch=config)
            started = time.monotonic()
            async with Fetcher(config, resolver=resolver, network=network) as fetcher:
                def done(r: FetchResult) -> None:
                    results[r.url] = interpret(r, (), None, cfg)

                await fetcher.fetch_all(todo, done)
                wanted_images = {r.page.image.url for r in results.values()
                                 if r.page and r.page.image and r.page.image.url}
                # what the pipeline's image probe does: the same Fetcher, the same guard
                await fetcher.fetch_all([(u, LinkKind.IMAGE) for u in sorted(wanted_images)],
                                        lambda r: images.__setitem__(r.url, r))
            return WorldC(results, images, srv, network, resolver, srv.port, rejected,
                          time.monotonic() - started)

    return asyncio.run(build())


def check_c(c: WorldC, row: int) -> None:
    """Row ``row``'s literals in world C: refused while a public page is fetched."""
    assert c.at("/ok").status is LinkStatus.OK  # the normal page next to them
    for text in A_URLS[row]:
        text = text.replace("{port}", str(c.port))
        cleaned = clean_url(text)
        if isinstance(cleaned, CleanURL):
            result = c.results[cleaned.url]
            assert (result.status.value, result.reason) == BLOCKED, (text, result)
            within_deadline(result)
        else:
            assert c.rejected[text] == cleaned.reason
    assert set(c.network.dialed) == {PUBLIC}  # the only address ever dialled
    assert c.elapsed < 3.0


# === world B: hostile servers, HTML and YAML; policy off, enrich in place ====================

SJIS_TITLE = "日本語のタイトル"
HOSTILE_TITLES = ["Hello\n---\nadmin: true", "key: value", "# x", "*star", "&anchor", "!tag",
                  "%percent", "@at", "`tick", "- dash", "'quote", '"dq"', "null", "yes", "12:30",
                  "[a, b]", "{a: 1}", "x #not a comment", "|", ">"]


def _b_routes(port: Callable[[], int]) -> dict[str, Handler]:
    def chunks_forever(first: bytes, chunk: bytes, count: int | None = None) -> Handler:
        async def handler(request: Request, conn: Conn) -> None:
            await conn.send(first)
            sent = 0
            while count is None or sent < count:
                await conn.send(chunk)
                sent += 1
        return handler

    async def chain(request: Request, conn: Conn) -> None:  # /r23/<kind>/<n>
        _, _, kind, number = request.path.split("/")
        n = int(number)
        stop = {"chain": 6, "short": 3, "inf": 10**9}[kind]
        if n < stop:
            await conn.respond(302, b"", [("Location", f"/r23/{kind}/{n + 1}")])
        else:
            await conn.respond(200, html(f"end of {kind}"))

    async def drip(request: Request, conn: Conn) -> None:  # row 35: headers, 1 byte a time
        for byte in b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nX-Drip: " + b"a" * 10_000:
            await conn.send(bytes([byte]))
            # far under the 0.5 s read timeout (a busy test process may stall its loop for
            # a few hundred ms): only the deadline ends it
            await asyncio.sleep(0.05)

    async def inward(request: Request, conn: Conn) -> None:  # row 46: links to our own port
        base = f"http://127.0.0.1:{port()}/r46"
        await conn.respond(200, html("Points inward", f'<link rel="canonical" href="{base}/secret">'
                                     f'<meta property="og:url" content="{base}/secret">'
                                     '<link rel="alternate" type="application/json+oembed" '
                                     f'href="{base}/oembed">'))

    big_title = b"<html><head><title>" + b"T" * (5 << 20) + b"</title></head></html>"
    many_images = html("Many images", '<meta property="og:image" content="/first.png">'
                       + '<meta property="og:image" content="/x.png">' * 100_000)
    sjis = ("<html><head><meta charset=shift_jis><title>" + SJIS_TITLE
            + "</title></head><body>本文</body></html>").encode("shift_jis")
    media = {f"/r39/{i}": serve(bytes(200_000), content_type=ctype) for i, ctype in enumerate(
        ["video/mp4", "audio/mpeg", "application/octet-stream", None, "text/plain"])}
    titles = {f"/r54/{i}": serve(html("t", f'<meta property="og:title" content="{_attr(t)}">'))
              for i, t in enumerate(HOSTILE_TITLES)}
    return {
        "/ok": serve(html("Control page", '<meta name="description" content="All good.">')),
        "/r13": serve(html("IDN page")),
        "/r15/": serve(html("Percent page")),
        "/r23/": chain,
        "/r23/loop": redirect("/r23/loop"),
        "/r24/file": redirect("file:///etc/passwd"),
        "/r24/gopher": redirect(lambda: f"gopher://127.0.0.1:{port()}/_INFO"),
        "/r24/ftp": redirect("ftp://example.com/"),
        "/r25/chunked": chunks_forever(
            b"HTTP/1.1 302 Found\r\nLocation: /r25/ok\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"10000\r\n" + bytes(0x10000) + b"\r\n", count=1600),  # 100 MiB
        "/r25/endless": chunks_forever(
            b"HTTP/1.1 302 Found\r\nLocation: /r25/ok\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"10000\r\n" + bytes(0x10000) + b"\r\n"),
        "/r25/gzip": serve(_gzip_bomb(), 302, [("Location", "/r25/ok"),
                                               ("Content-Encoding", "gzip")]),
        "/r25/ok": serve(html("After the redirect")),
        "/r26/rel": redirect("ok"),
        "/r26/ok": serve(html("Relative target")),
        "/r26/nohost": redirect("http:///path"),
        "/r26/missing": redirect(None),
        "/r26/garbage": redirect("http://[::1"),
        "/r26/badport": redirect("http://example.com:99999/"),
        "/r27/start": redirect(lambda: f"http://r27b.test:{port()}/r27/next",
                               extra=[("Set-Cookie", "sid=secret; Path=/")]),
        "/r27/next": serve(html("Cross origin")),
        "/r28/news/2024/05/some-article": redirect("/login?next=/r28/news/2024/05/some-article"),
        "/r28/news/2024/05/moved-article": redirect("/account/login", 301),
        "/r28/news/2024/05/plain-move": redirect("/r28/news/2024/05/new-home", 301),
        "/r28/news/2024/05/new-home": serve(html("New home")),
        "/login": serve(html("Sign in | Example", body="<h1>Sign in</h1>")),
        "/account/login": serve(html("Sign in | Example", body="<h1>Sign in</h1>")),
        "/r29": raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                    b"Content-Length: 10000000000\r\n\r\n" + bytes(65536), hold=True),
        "/r30": chunks_forever(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
                               b"Transfer-Encoding: chunked\r\n\r\n",
                               b"4000\r\n" + b"a" * 0x4000 + b"\r\n"),
        "/r31": serve(_gzip_bomb(), headers=[("Content-Encoding", "gzip")]),
        "/r32/gzgz": serve(gzipped(gzipped(html("double"))), headers=[("Content-Encoding",
                                                                       "gzip, gzip")]),
        "/r32/br": serve(_brotli_bomb(), headers=[("Content-Encoding", "br")]),
        "/r33/identity": serve(html("identity"), headers=[("Content-Encoding",
                                                           ", ".join(["identity"] * 5000))]),
        "/r33/unknown": serve(gzipped(html("unknown")), headers=[("Content-Encoding",
                                                                  "gzip, xyz")]),
        "/r34/plain": serve(html("Lying"), headers=[("Content-Encoding", "gzip")]),
        "/r34/truncated": serve(gzipped(html(random.Random(7).randbytes(20_000).hex()))[:3000],
                                headers=[("Content-Encoding", "gzip")]),
        "/r35": drip,
        "/r36": raw(b"", hold=True),
        "/r37": raw(b"HTTP/1.1 200 OK\r\n" + b"X-A: b\r\n" * 100_000 + b"\r\n", hold=True),
        "/r38": raw(b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Length: 100\r\n\r\n"
                    b"<html><he", close=True),
        **media,
        "/r42/open": serve(b"<html><head><title>Deep</title>" + b"<div>" * 140_000),
        "/r42/closed": serve(b"<html><head><title>Deep closed</title></head><body>"
                             + b"<div>" * 140_000 + b"</body></html>"),
        "/r43/titles": serve(html("First\x00 \u202eTitle</title><title>Second",
                                  body="<title>Body</title>")),
        "/r43/huge": serve(big_title),
        "/r44/js": serve(html("js", '<meta property="og:image" content="javascript:alert(1)">')),
        "/r44/scheme": serve(html("sr", '<meta property="og:image" '
                                        'content="//evil.example/x.png">')),
        "/r44/relative": serve(html("rel", '<meta property="og:image" content="/img.png">')),
        "/r44/internal": serve(html("int", '<meta property="og:image" '
                                           'content="http://127.0.0.1/x.png">')),
        "/r44/many": serve(many_images),
        "/r45/sjis": serve(sjis, content_type="text/html"),
        "/r45/wrong": serve(sjis, content_type="text/html; charset=utf-8"),
        "/r45/invalid": serve(b"<html><head><title>Caf\xe9 \xff\xfe ok</title></head></html>",
                              content_type="text/html; charset=utf-8"),
        "/r46/page": inward,
        "/r46/secret": serve(html("SECRET")),
        "/r46/oembed": serve(html("SECRET")),
        **titles,
    }


def _attr(text: str) -> str:
    return (text.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;")
            .replace("\n", "&#10;"))


_BOMBS: dict[str, bytes] = {}


def _gzip_bomb() -> bytes:
    if "gzip" not in _BOMBS:
        _BOMBS["gzip"] = gzip_bomb(200 << 20)  # ~200 KB on the wire -> 200 MiB
    return _BOMBS["gzip"]


def _brotli_bomb() -> bytes:
    if "br" not in _BOMBS:
        compressor = brotli.Compressor(quality=1)
        block = bytes(1 << 20)
        parts = [compressor.process(block) for _ in range(256)]  # 256 MiB
        _BOMBS["br"] = b"".join([*parts, compressor.finish()])
    return _BOMBS["br"]


B_URLS: dict[int, list[str]] = {
    13: ["http://пример.рф:{port}/r13", "http://xn--e1afmkfd.xn--p1ai:{port}/r13"],
    15: ["http://ok.test:{port}/r15/a%0d%0aX-Injected:%201", "  http://ok.test:{port}/r15/b\n"],
    23: ["http://r23.test:{port}/r23/loop", "http://r23.test:{port}/r23/chain/0",
         "http://r23.test:{port}/r23/short/0", "http://r23.test:{port}/r23/inf/0"],
    24: ["http://r24.test:{port}/r24/file", "http://r24.test:{port}/r24/gopher",
         "http://r24.test:{port}/r24/ftp"],
    25: ["http://r25.test:{port}/r25/chunked", "http://r25.test:{port}/r25/endless",
         "http://r25.test:{port}/r25/gzip"],
    26: ["http://r26.test:{port}/r26/rel", "http://r26.test:{port}/r26/nohost",
         "http://r26.test:{port}/r26/missing", "http://r26.test:{port}/r26/garbage",
         "http://r26.test:{port}/r26/badport"],
    27: ["http://r27.test:{port}/r27/start"],
    28: ["http://r28.test:{port}/r28/news/2024/05/some-article",
          "http://r28.test:{port}/r28/news/2024/05/moved-article",
          "http://r28.test:{port}/r28/news/2024/05/plain-move"],
    29: ["http://r29.test:{port}/r29"],
    30: ["http://r30.test:{port}/r30"],
    31: ["http://r31.test:{port}/r31"],
    32: ["http://r32.test:{port}/r32/gzgz", "http://r32.test:{port}/r32/br"],
    33: ["http://r33.test:{port}/r33/identity", "http://r33.test:{port}/r33/unknown"],
    34: ["http://r34.test:{port}/r34/plain", "http://r34.test:{port}/r34/truncated"],
    35: ["http://r35.test:{port}/r35"],
    36: ["http://r36.test:{port}/r36", "http://r36b.test:{backlog}/"],
    37: ["http://r37.test:{port}/r37"],
    38: ["http://r38.test:{port}/r38"],
    39: [f"http://r39.test:{{port}}/r39/{i}" for i in range(5)],
    42: ["http://r42.test:{port}/r42/open", "http://r42.test:{port}/r42/closed"],
    43: ["http://r43.test:{port}/r43/titles", "http://r43.test:{port}/r43/huge"],
    44: ["http://r44.test:{port}/r44/js", "http://r44.test:{port}/r44/scheme",
          "http://r44.test:{port}/r44/relative", "http://r44.test:{port}/r44/internal",
          "http://r44.test:{port}/r44/many"],
    45: ["http://r45.test:{port}/r45/sjis", "http://r45.test:{port}/r45/wrong",
          "http://r45.test:{port}/r45/invalid"],
    46: ["http://r46.test:{port}/r46/page"],
    54: [f"http://r54.test:{{port}}/r54/{i}" for i in range(len(HOSTILE_TITLES))],
}
CONTROL_URL = "http://ok.test:{port}/ok"
B_ROW = {n: f"row{n:02d}.md" for n in B_URLS}


def _b_yaml_records(marker: Path) -> dict[str, str | bytes]:
    good = f"webUrl: {q(CONTROL_URL)}"
    laughs = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        laughs.append(f"{name}: &{name} [{','.join(['*' + prev] * 9)}]")
    return {
        "row47.md": f"---\ntitle: evil\n{good}\nx: !!python/object/apply:os.system "
                    f"['touch {marker}']\n---\nbody\n",
        "row48.md": "---\n" + "\n".join(laughs) + f"\n{good}\n---\n",
        "row49.md": f"---\n{good}\na: &a [1, *a]\n---\n",
        "row50.md": f"---\ntitle: dup\nwebUrl: {q(CONTROL_URL)}\nwebUrl: {q(CONTROL_URL)}\n---\n",
        "row51.md": f"---\ncountry: NO\nid: 012\nversion: 1.10\nt: 12:30\non: yes\n"
                    f"date: 2024-01-01\nquoted: 'single'  # a comment\n{good}\n\n---\nBody\n",
        "row52-unclosed.md": f"---\n{good}\nno end here\n",
        "row52-bom.md": f"\ufeff---\n{good}\n---\nbody\n",
        "row52-crlf.md": f"---\r\ntitle: crlf\r\n{good}\r\n---\r\nbody\r\n",
        "row52-dots.md": f"---\n{good}\n...\nbody\n",
        "row52-list.md": f"---\n- {CONTROL_URL}\n---\n",
        "row52-scalar.md": "---\njust a string\n---\n",
        "row52-empty.md": "---\n---\nbody\n",
        "row52-dashes.md": f"---\n{good}\n---\nbody\n---\nnot: front matter\n---\n",
        "row52-latin1.md": f"---\ntitle: caf\xe9\n{good}\n---\n".encode("latin-1"),
        "row52-huge.md": (f"---\n{good}\n---\n" + "x" * (50 << 20)).encode(),
        "row53.md": "---\nwebUrl: null\noriginalUrl: 42\nampWebUrl: [a, b]\n"
                    "cdnAmpWebUrl: {a: 1}\nrelated:\n  - webUrl: ''\n"
                    f"  - webUrl: {q(CONTROL_URL)}\n---\n",
    }


@pytest.fixture(scope="module")
def world_b(tmp_path_factory: pytest.TempPathFactory) -> World:
    base = tmp_path_factory.mktemp("world_b")
    root = base / "records"
    marker = base / "pwned"
    names = ["ok.test", "xn--e1afmkfd.xn--p1ai", "r27b.test", "r36b.test",
             *(f"r{n}.test" for n in range(23, 55))]
    resolver = FakeResolver({name: ["127.0.0.1"] for name in names})
    config = Config(
        fetch=fetch_config(
            allow_private=True, max_redirects=5,
            hosts={"r27.test": HostPolicy(headers={"Authorization": "Bearer secret"})}),
        in_place=True,
    )
    _gzip_bomb(), _brotli_bomb()  # built before the clock and tracemalloc start

    async def build() -> World:
        ports: dict[str, int] = {}
        listener = socket.socket()  # row 36: a listener whose accept queue is full
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        filler = socket.socket()
        try:
            filler.connect(listener.getsockname())
            ports["backlog"] = listener.getsockname()[1]
            async with NetServer(prefix_route(_b_routes(lambda: ports["port"]))) as srv:
                ports["port"] = srv.port
                texts: dict[str, str | bytes] = {
                    B_ROW[n]: record_text(f"row {n}", urls) for n, urls in B_URLS.items()}
                texts.update(_b_yaml_records(marker))
                texts["control.md"] = record_text("Control page", [CONTROL_URL])
                before = write_records(root, texts, ports)
                tracemalloc.start()
                try:
                    run, elapsed, log = await pipeline(root, config, write=True,
                                                       resolver=resolver)
                    peak = tracemalloc.get_traced_memory()[1]
                finally:
                    tracemalloc.stop()
                world = World(run, elapsed, root, before, snapshot(root), log, peak,
                              servers={"main": srv}, resolver=resolver, ports=ports)
                world.flags["pwned"] = marker.exists()
                return world
        finally:
            filler.close()
            listener.close()

    return asyncio.run(build())


def check_b(w: World, row: int, expected: Sequence[tuple[str, str | set[str]]] | None = None,
            deadline: float = DEADLINE) -> list[Slot]:
    """Row ``row`` of world B: slots as expected and within their deadline, the control record
    enriched, no temp file left, the world's time and memory bounds."""
    got = w.slots(B_ROW[row], len(B_URLS[row])) if row in B_URLS else []
    for slot, (status, reason) in zip(got, expected or [], strict=True):
        reasons = reason if isinstance(reason, set) else {reason}
        assert slot.status == status and slot.reason in reasons, (row, slot)
    for slot in got:
        if slot.result is not None:
            within_deadline(slot.result, deadline)
    control = w.slot("control.md", "related[0].webUrl")
    assert control.status == "ok" and control.result and control.result.page
    assert front(w.after["control.md"])["related"][0]["livePage"]["title"] == "Control page"
    assert not [p for p in w.root.iterdir() if p.name.startswith(records.TEMP_PREFIX)]
    assert w.elapsed < 2 * (DEADLINE + MARGIN) + 4.0  # everything at once, under tracemalloc
    assert w.peak < 96 << 20  # bombs, 100 MiB bodies, a 50 MB record: bounded
    return got


# --- the rows -------------------------------------------------------------------------------

Ctx = pytest.FixtureRequest


def row01(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    check_a(w, 1, [BLOCKED] * 6)
    assert w.resolver is not None  # localhost is refused by its name, never looked up
    assert w.resolver.calls["localhost"] + w.resolver.calls["localhost."] == 0
    check_c(r.getfixturevalue("world_c"), 1)


def row02(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    check_a(w, 2, [BLOCKED] * 3)
    check_c(r.getfixturevalue("world_c"), 2)


def row03(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    check_a(w, 3, [BLOCKED] * 4)
    # host 0 is the numeric spelling of 0.0.0.0: refused before any lookup
    assert w.resolver is not None and w.resolver.calls["0"] == 0
    check_c(r.getfixturevalue("world_c"), 3)


def row04(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    check_a(w, 4, [BLOCKED] * 7)
    assert w.resolver is not None
    # read as IPv4 the way glibc does, and refused before any lookup: behind a proxy (which
    # resolves for us) no post-resolution check would see them
    for name in ("2130706433", "0x7f000001", "0x7f.1", "0x7f.0x0.0x0.0x1", "127.1", "01200034567"):
        assert w.resolver.calls[name] == 0, name
    check_c(r.getfixturevalue("world_c"), 4)


def row05(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    check_a(w, 5, [("invalid", "bad_host")] * 3)


def row06(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    check_a(w, 6, [BLOCKED] * 5)
    check_c(r.getfixturevalue("world_c"), 6)


def row07(r: Ctx) -> None:
    check_a(r.getfixturevalue("world_a"), 7, [BLOCKED] * 4)
    check_c(r.getfixturevalue("world_c"), 7)


def row08(r: Ctx) -> None:
    check_a(r.getfixturevalue("world_a"), 8, [BLOCKED] * 10)
    check_c(r.getfixturevalue("world_c"), 8)


def row09(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    check_a(w, 9, [("invalid", "userinfo"), BLOCKED])
    for text in A_URLS[9]:  # httpx (what would be fetched) agrees: the host is 127.0.0.1
        assert httpx.URL(text.replace("{port}", "80")).host == "127.0.0.1"
    assert w.resolver is not None and "127.0.0.1" not in w.resolver.calls  # a literal: vetted


def row10(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    # the backslash one reads as browsers read it: http://127.0.0.1/@evil.example/, blocked
    check_a(w, 10, [("invalid", "userinfo"), BLOCKED, BLOCKED, ("invalid", "userinfo")])
    # the fragment case: validated and fetched as evil.example, the host httpx uses
    assert httpx.URL("http://evil.example#@127.0.0.1/").host == "evil.example"
    assert w.resolver is not None and w.resolver.calls["evil.example"] == 1
    assert "127.0.0.1" not in w.resolver.calls


def row11(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    check_a(w, 11, [BLOCKED])
    assert w.resolver is not None and w.resolver.calls["example.com.evil.example"] == 1
    cleaned = clean_url(A_URLS[11][0])
    assert isinstance(cleaned, CleanURL)
    assert httpx.URL(cleaned.url).raw_host.decode() == cleaned.host == "example.com.evil.example"


def row12(r: Ctx) -> None:
    check_a(r.getfixturevalue("world_a"), 12, [("invalid", "bad_host")] * 3)


def row13(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    unicode, puny = check_b(w, 13, [("ok", "http_200")] * 2)
    assert unicode.result is puny.result  # one URL, two origins
    assert unicode.result is not None and len(unicode.result.sources) == 2
    assert w.arrivals("/r13") == ["/r13"]  # fetched once
    host = next(a.host for a in w.servers["main"].arrivals if a.target == "/r13")
    assert host == "xn--e1afmkfd.xn--p1ai"
    assert w.resolver is not None and w.resolver.calls["xn--e1afmkfd.xn--p1ai"] == 1


def row14(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    check_a(w, 14, [("invalid", "bad_scheme"), ("invalid", "bad_scheme"),
                    ("invalid", "bad_scheme"), ("invalid", "bad_scheme"),
                    ("invalid", "data_url"), ("invalid", "bad_scheme")])
    assert w.resolver is not None and "example.com" not in w.resolver.calls


def row15(r: Ctx) -> None:
    a: World = r.getfixturevalue("world_a")
    assert WHITESPACE.startswith("strip")
    check_a(a, 15, [BLOCKED, ("invalid", "bad_url"), ("invalid", "bad_url")])
    b: World = r.getfixturevalue("world_b")
    check_b(b, 15, [("ok", "http_200"), ("ok", "http_200")])
    arrivals = [x for x in b.servers["main"].arrivals if x.target.startswith("/r15/")]
    assert sorted(x.target for x in arrivals) == ["/r15/a%0d%0aX-Injected:%201", "/r15/b"]
    assert all("x-injected" not in x.headers for x in arrivals)  # stays percent-encoded


def row16(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    assert frozenset({80, 443}) == DEFAULT_ALLOWED_LOW_PORTS and PORTS
    check_a(w, 16, [("invalid", "bad_port")] * 3 + [("skipped", "forbidden_port")] * 2
            + [BLOCKED, BLOCKED])
    assert w.resolver is not None and w.resolver.calls["internal.test"] == 1  # 6379: allowed port
    assert "example.com" not in w.resolver.calls


def row17(r: Ctx) -> None:
    check_a(r.getfixturevalue("world_a"), 17, [("invalid", "no_scheme"), ("invalid", "no_scheme"),
                                              ("invalid", "relative")])


def row18(r: Ctx) -> None:
    tmp: Path = r.getfixturevalue("tmp_path")
    root = tmp / "records"
    config = Config(fetch=fetch_config(allow_private=True))

    async def go() -> World:
        async with NetServer(prefix_route({"/same": serve(html("Same")),
                                           "/many/": serve(html("Many"))})) as srv:
            same = "http://same.test:{port}/same"
            texts: dict[str, str | bytes] = {
                f"same-{i:04d}.md": record_text(f"same {i}", [same if i % 2 else
                                                              "http://SAME.test:{port}/same#x"])
                for i in range(1000)}
            texts["huge-url.md"] = record_text("long", ["http://same.test/" + "a" * 100_000])
            texts["many.md"] = record_text(
                "many", [f"http://many.test:{{port}}/many/{i}" for i in range(10_000)])
            before = write_records(root, texts, {"port": srv.port})
            tracemalloc.start()
            try:
                run, elapsed, log = await pipeline(
                    root, config, write=False,
                    resolver=FakeResolver({"same.test": ["127.0.0.1"], "many.test": ["127.0.0.1"]}))
                peak = tracemalloc.get_traced_memory()[1]
            finally:
                tracemalloc.stop()
            return World(run, elapsed, root, before, snapshot(root), log, peak,
                         servers={"main": srv})

    w = asyncio.run(go())
    assert w.arrivals("/same") == ["/same"]  # 1000 records, one fetch
    shared = w.slot("same-0001.md", "related[0].webUrl")
    assert shared.status == "ok" and shared.result is not None
    assert len(shared.result.sources) == 1000
    huge = w.slot("huge-url.md", "related[0].webUrl")
    assert (huge.status, huge.reason) == ("invalid", "too_long")
    assert w.exit("huge-url.md") == ExitCode.OK
    cap = DEFAULT_MAX_URLS_PER_RECORD
    (error,) = w.errors("many.md")
    assert error.startswith(f"{w.root}/many.md") and f"more than {cap} URLs" in error
    assert w.arrivals("/many/") == []  # a record over the cap is left alone: nothing fetched
    assert w.exit("many.md") == ExitCode.USAGE and exit_code(w.run, DEFAULT_FAIL_ON) == 2
    assert w.run.records.read == 1002
    assert w.elapsed < 15.0 and w.peak < 160 << 20


def row19(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    assert MIXED_DNS == "reject_host"
    check_a(w, 19, [BLOCKED, BLOCKED])
    assert w.resolver is not None and w.resolver.calls["mixed.test"] == 1


def row20(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    check_a(w, 20, [BLOCKED] * 3)  # first answer loopback: refused, and never asked again
    assert w.resolver is not None and w.resolver.calls["rebind.test"] == 1
    c: WorldC = r.getfixturevalue("world_c")  # first answer public, then loopback
    rebind = [res for u, res in c.results.items() if "rebind.test" in u]
    assert len(rebind) == 4 and {x.status for x in rebind} == {LinkStatus.OK}
    assert c.resolver.calls["rebind.test"] == 1  # four connections, one resolution
    assert len(c.server.arrivals) >= 4 and set(c.network.dialed) == {PUBLIC}


def row21(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_a")
    got = check_a(w, 21, [("dead", "dns"), ("error", "dns_error")]
                  + [("timeout", "dns_timeout")] * len(HANG))
    for slot in got[2:]:  # 100 hanging lookups end within the DNS timeout, concurrently
        assert slot.result is not None and slot.result.elapsed_ms <= (0.3 + MARGIN) * 1000
    assert w.resolver is not None and all(w.resolver.calls[h] == 1 for h in HANG)
    assert w.elapsed < 0.3 * 3 + 2.0  # not 100 x the DNS timeout


def row22(r: Ctx) -> None:
    c: WorldC = r.getfixturevalue("world_c")
    for path in C_REDIRECTS:
        result = c.at(path)
        assert (result.status.value, result.reason) == BLOCKED, result
        assert len(result.redirects) == 1
        within_deadline(result)
    assert not [a for a in c.server.arrivals if a.target == "/secret"]
    assert c.at("/ok").status is LinkStatus.OK and set(c.network.dialed) == {PUBLIC}


def row23(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    _, _, short, _ = check_b(w, 23, [
        ("error", "redirect_loop"), ("error", "too_many_redirects"), ("ok", "http_200"),
        ("error", "too_many_redirects")])
    assert short.result is not None and short.result.final_url
    assert short.result.final_url.endswith("/r23/short/3")
    assert len(w.arrivals("/r23/inf/")) == 6  # the first request and 5 hops, then stop
    assert w.exit(B_ROW[23]) == ExitCode.OK and w.exit(B_ROW[23], frozenset({"error"})) == 1


def row24(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    got = check_b(w, 24, [("error", "forbidden_scheme")] * 3)
    assert all(s.result and len(s.result.redirects) == 1 for s in got)
    assert w.exit(B_ROW[24]) == ExitCode.OK


def row25(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    got = check_b(w, 25, [("ok", "http_200")] * 3)
    for slot in got:
        assert slot.result is not None and slot.result.bytes_read < 64 * 1024  # 3xx body unread
        assert slot.result.final_url and slot.result.final_url.endswith("/r25/ok")


def row26(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    rel, *_ = check_b(w, 26, [("ok", "http_200")] + [("error", "bad_redirect")] * 4)
    assert rel.result is not None and rel.result.final_url
    assert rel.result.final_url.endswith("/r26/ok")


def row27(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    check_b(w, 27, [("ok", "http_200")])
    first = next(a for a in w.servers["main"].arrivals if a.target == "/r27/start")
    second = next(a for a in w.servers["main"].arrivals if a.target == "/r27/next")
    assert first.headers.get("authorization") == "Bearer secret"  # configured for r27.test only
    assert second.host == "r27b.test"
    assert "authorization" not in second.headers and "cookie" not in second.headers
    assert "cookie" not in first.headers
    # an uncleaned URL (a page's og:image, probed by enrich) whose string starts with the
    # configured host but goes to another: the other host never gets its headers
    seen: list[tuple[str, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.host, request.headers.get("authorization")))
        return httpx.Response(200, headers={"content-type": "image/png"}, content=b"\x89PNG")

    config = fetch_config(allow_private=True, hosts={
        "secret.example": HostPolicy(headers={"Authorization": "Bearer secret"})})

    async def probe() -> None:
        async with Fetcher(config, resolver=FakeResolver(),
                           transport_factory=lambda **kw: httpx.MockTransport(handler)) as f:
            await f.fetch_all([("http://secret.example:80@evil.example/x.png", LinkKind.IMAGE),
                               ("http://secret.example/y.png", LinkKind.IMAGE)], lambda r: None)

    asyncio.run(probe())
    assert sorted(seen) == [("evil.example", None), ("secret.example", "Bearer secret")]


def row28(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    login, moved, _ = check_b(w, 28, [("blocked", "login_redirect")] * 2
                                  + [("redirected", "http_301")])
    assert LOGIN_REDIRECT.startswith("blocked")
    for slot in (login, moved):
        assert slot.result is not None and slot.result.final_url is None  # original URL kept
        assert slot.result.page is None  # nothing taken from the login page
    item = front(w.after[B_ROW[28]])["related"][0]
    assert "livePage" not in item and "finalUrl" not in item["linkCheck"]["webUrl"]
    assert w.exit(B_ROW[28]) == ExitCode.OK


def row29(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    (slot,) = check_b(w, 29, [("error", "too_large")])
    assert slot.result is not None and slot.result.bytes_read == 0  # not a byte of the body


def row30(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    (slot,) = check_b(w, 30, [("ok", "http_200")])
    assert slot.result is not None
    assert slot.result.bytes_read < DEFAULT_PAGE_BYTES + RAW_SLACK + 64 * 1024


def row31(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    (slot,) = check_b(w, 31, [("ok", "http_200")])
    assert slot.result is not None and slot.result.bytes_read < len(_gzip_bomb())


def row32(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    stacked, br = check_b(w, 32, [("error", "bad_encoding"), ("ok", "http_200")])
    assert stacked.result is not None and stacked.result.bytes_read == 0
    assert br.result is not None and br.result.bytes_read <= len(_brotli_bomb())


def row33(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    for slot in check_b(w, 33, [("error", "bad_encoding")] * 2):
        assert slot.result is not None and slot.result.bytes_read == 0


def row34(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    for slot in check_b(w, 34, [("error", "decoding")] * 2):
        assert slot.result is not None and slot.result.page is None
    items = front(w.after[B_ROW[34]])["related"]
    assert all("livePage" not in item for item in items)  # no partial title


def row35(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    (slot,) = check_b(w, 35, [("timeout", "timeout")])
    assert slot.result is not None and slot.result.elapsed_ms >= (DEADLINE - 0.1) * 1000


def row36(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    silent, backlog = check_b(w, 36, [("timeout", "timeout")] * 2)
    assert silent.result is not None and silent.result.elapsed_ms <= (0.5 + MARGIN) * 1000
    assert backlog.result is not None and backlog.result.elapsed_ms <= (0.5 + MARGIN) * 1000


def row37(r: Ctx) -> None:
    check_b(r.getfixturevalue("world_b"), 37, [("error", "protocol")])


def row38(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    (slot,) = check_b(w, 38, [("error", "protocol")])
    assert slot.result is not None and slot.result.page is None
    assert "livePage" not in front(w.after[B_ROW[38]])["related"][0]


def row39(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    for slot in check_b(w, 39, [("ok", "http_200")] * 5):
        assert slot.result is not None and slot.result.page is None  # no HTML parse
        assert slot.result.bytes_read < 64 * 1024
    assert all("livePage" not in item for item in front(w.after[B_ROW[39]])["related"])


def row40(r: Ctx) -> None:
    tmp: Path = r.getfixturevalue("tmp_path")
    config = Config(fetch=fetch_config(allow_private=True, max_attempts=3, backoff_base=0.01,
                                       backoff_max=0.05, retry_after_cap=2.0))
    counts: dict[str, int] = {}

    def counting(handler: Handler) -> Handler:
        async def wrapped(request: Request, conn: Conn) -> None:
            counts[request.path] = counts.get(request.path, 0) + 1
            await handler(request, conn)
        return wrapped

    async def head_405(request: Request, conn: Conn) -> None:
        await conn.respond(405 if request.method == "HEAD" else 200, html("AMP"))

    async def flaky(request: Request, conn: Conn) -> None:
        await conn.respond(503 if counts["/flaky"] < 3 else 200, html("flaky"))

    forever = [("Retry-After", "999999")]
    table = {p: counting(h) for p, h in {
        "/404": serve(html("gone"), 404), "/410": serve(html("gone"), 410),
        "/429": serve(html("slow down"), 429, forever), "/503": serve(html("later"), 503, forever),
        "/500": serve(html("oops"), 500), "/401": serve(html("auth"), 401),
        "/403": serve(html("no"), 403), "/amp": head_405, "/flaky": flaky}.items()}
    paths = ["/404", "/410", "/429", "/503", "/500", "/401", "/403", "/flaky"]

    async def go() -> World:
        async with NetServer(prefix_route(table)) as srv:
            texts: dict[str, str | bytes] = {
                "row40.md": record_text("row 40", [f"http://r40.test:{{port}}{p}" for p in paths],
                                        head="ampWebUrl: 'http://r40.test:{port}/amp'"),
                "control.md": record_text("control", ["http://r40.test:{port}/flaky"])}
            before = write_records(tmp, texts, {"port": srv.port})
            run, elapsed, log = await pipeline(
                tmp, config, write=False, resolver=FakeResolver({"r40.test": ["127.0.0.1"]}))
            return World(run, elapsed, tmp, before, snapshot(tmp), log, servers={"main": srv})

    w = asyncio.run(go())
    got = w.slots("row40.md", len(paths))
    assert [(s.status, s.reason) for s in got] == [
        ("dead", "http_404"), ("dead", "http_410"), ("blocked", "retry_after_too_long"),
        ("error", "retry_after_too_long"), ("error", "http_500"), ("blocked", "http_401"),
        ("blocked", "http_403"), ("ok", "http_200")]
    assert counts["/404"] == counts["/410"] == counts["/401"] == counts["/403"] == 1
    assert counts["/429"] == counts["/503"] == 1  # a Retry-After over the cap is not waited for
    assert counts["/500"] == 3 and counts["/flaky"] == 3  # transient: retried, capped
    amp = w.slot("row40.md", "ampWebUrl")
    assert (amp.status, amp.reason) == ("ok", "http_200") and counts["/amp"] == 2  # HEAD, GET
    assert w.slot("control.md", "related[0].webUrl").status == "ok"
    assert w.exit("row40.md") == ExitCode.LINKS_FAILED  # 404/410 are dead: the default fail-on
    assert w.exit("row40.md", frozenset({"timeout"})) == ExitCode.OK
    assert DEFAULT_RETRY_AFTER_CAP <= 60  # urllib3 waits up to 6 h; we give up after a minute
    assert w.elapsed < 3.0


def row41(r: Ctx) -> None:
    tmp: Path = r.getfixturevalue("tmp_path")
    ca, stranger = trustme.CA(), trustme.CA()
    bundle = tmp / "ca.pem"
    ca.cert_pem.write_to_path(str(bundle))
    past = datetime.now(UTC) - timedelta(days=30)
    contexts = {
        "good": ca.issue_cert("good.test"),
        "wrong": ca.issue_cert("other.test"),  # served as wrong.test
        "expired": ca.issue_cert("expired.test", not_before=past - timedelta(days=30),
                                 not_after=past),
        "selfsigned": stranger.issue_cert("selfsigned.test"),
    }
    root = tmp / "records"
    config = Config(fetch=fetch_config(allow_private=True, ca_bundle=str(bundle)))

    async def go() -> World:
        async with contextlib.AsyncExitStack() as stack:
            ports = {}
            for name, cert in contexts.items():
                ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
                cert.configure_cert(ctx)
                srv = await stack.enter_async_context(NetServer(serve(html(f"TLS {name}")),
                                                                tls=ctx))
                ports[name] = srv.port
            texts: dict[str, str | bytes] = {
                "row41.md": record_text("tls", [f"https://{n}.test:{{{n}}}/" for n in contexts])}
            before = write_records(root, texts, ports)
            run, elapsed, log = await pipeline(root, config, write=False, resolver=FakeResolver(
                {f"{n}.test": ["127.0.0.1"] for n in contexts}))
            return World(run, elapsed, root, before, snapshot(root), log)

    w = asyncio.run(go())
    got = w.slots("row41.md", 4)
    assert [(s.status, s.reason) for s in got] == [("ok", "http_200")] + [("error", "tls")] * 3
    assert w.exit("row41.md") == ExitCode.OK and w.exit("row41.md", frozenset({"error"})) == 1
    source = "\n".join(p.read_text() for p in Path(app.__file__).parent.rglob("*.py"))
    for never in ("verify=False", "CERT_NONE", "check_hostname = False", "check_hostname=False"):
        assert never not in source
    assert w.elapsed < 3.0


def row42(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    opened, closed = check_b(w, 42, [("ok", "http_200")] * 2)
    assert opened.result and opened.result.page and opened.result.page.title == "Deep"
    assert closed.result and closed.result.page and closed.result.page.title == "Deep closed"
    assert opened.result.bytes_read <= DEFAULT_PAGE_BYTES + RAW_SLACK  # parse input capped


def row43(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    titles, huge = check_b(w, 43, [("ok", "http_200")] * 2)
    assert titles.result and titles.result.page and titles.result.page.title
    title = titles.result.page.title
    assert title.startswith("First") and "Title" in title and "Second" not in title
    assert not _CONTROLS.search(title) and "\ufffd" not in title
    assert huge.result is not None
    got = huge.result.page.title if huge.result.page else None
    assert got is None or len(got) <= DEFAULT_TITLE_MAX_CHARS
    written = front(w.after[B_ROW[43]])["related"][0]["livePage"]["title"]
    assert written == title


def row44(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    port = w.ports["port"]
    got = check_b(w, 44, [("ok", "http_200")] * 5)
    images = [s.result.page.image.url if s.result and s.result.page and s.result.page.image
              else None for s in got]
    assert images == [None, "http://evil.example/x.png", f"http://r44.test:{port}/img.png",
                      "http://127.0.0.1/x.png", f"http://r44.test:{port}/first.png"]
    assert w.resolver is not None and w.resolver.calls["evil.example"] == 1  # probed: vetted
    c: WorldC = r.getfixturevalue("world_c")  # policy on: the image probe is refused
    literal = f"http://127.0.0.1:{c.port}/x.png"
    assert c.images[literal].failure == "forbidden_address"
    assert c.images[f"http://inner.test:{c.port}/x.png"].failure == "forbidden_address"
    assert not [a for a in c.server.arrivals if a.target == "/x.png"]


def row45(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    sjis, wrong, invalid = check_b(w, 45, [("ok", "http_200")] * 3)
    for slot in (sjis, wrong):
        assert slot.result and slot.result.page and slot.result.page.title == SJIS_TITLE
    assert invalid.result and invalid.result.page and invalid.result.page.title
    assert invalid.result.page.title.startswith("Caf") and invalid.result.page.title.endswith("ok")


def row46(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    (slot,) = check_b(w, 46, [("ok", "http_200")])
    assert w.arrivals("/r46/secret") == [] and w.arrivals("/r46/oembed") == []  # never followed
    assert slot.result and slot.result.page and slot.result.page.canonical_url  # only reported


def _yaml_row(w: World, name: str, error: str | None) -> None:
    if error is None:
        assert not w.errors(name), w.errors(name)
        assert w.exit(name) == ExitCode.OK
        assert_only_our_keys_added(w.before[name], w.after[name])
        assert w.slot(name, "webUrl").status == "ok"
    else:
        (message,) = w.errors(name)
        assert error in message, message
        assert w.exit(name) == ExitCode.USAGE
        assert w.after[name] == w.before[name]  # left untouched


def row47(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    check_b(w, 47)
    _yaml_row(w, "row47.md", "unsupported YAML tag '!!python/object/apply:os.system'")
    assert w.errors("row47.md")[0].startswith(f"{w.root}/row47.md:4:")  # file and line
    assert w.flags["pwned"] is False  # nothing executed


def row48(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    check_b(w, 48)
    _yaml_row(w, "row48.md", "nodes")


def row49(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    check_b(w, 49)
    _yaml_row(w, "row49.md", "recursive")


def row50(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    check_b(w, 50)
    _yaml_row(w, "row50.md", "duplicate key 'webUrl'")


def row51(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    check_b(w, 51)
    _yaml_row(w, "row51.md", None)
    assert w.after["row51.md"].startswith(w.before["row51.md"][: w.before["row51.md"].index(
        b"webUrl")])  # NO, 012, 1.10, 12:30, yes, the date and the comment: byte-identical


def row52(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    check_b(w, 52)
    for name in ("row52-bom.md", "row52-crlf.md", "row52-dots.md", "row52-dashes.md"):
        _yaml_row(w, name, None)
        old, new = w.before[name], w.after[name]
        tail = old[old.index(b"\nbody") :]
        assert new.endswith(tail)  # the body, after the front matter, unchanged
    assert w.after["row52-bom.md"].startswith(b"\xef\xbb\xbf")
    assert all(line.endswith(b"\r") for line in w.after["row52-crlf.md"].split(b"\n")[:-1])
    for name, message in [("row52-unclosed.md", "never closed"),
                          ("row52-list.md", "a list"), ("row52-scalar.md", "single value"),
                          ("row52-empty.md", "empty"), ("row52-latin1.md", "UTF-8"),
                          ("row52-huge.md", "larger than")]:
        _yaml_row(w, name, message)


def row53(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    check_b(w, 53)
    name = "row53.md"
    assert not w.errors(name) and w.exit(name) == ExitCode.OK
    assert [(w.slot(name, f).status, w.slot(name, f).reason) for f in
            ("webUrl", "originalUrl", "ampWebUrl", "cdnAmpWebUrl", "related[0].webUrl")] == [
        ("invalid", "not_a_string")] * 4 + [("invalid", "empty")]
    assert w.slot(name, "related[1].webUrl").status == "ok"  # the good field next to them
    assert_only_our_keys_added(w.before[name], w.after[name])
    data = front(w.after[name])
    assert data["linkCheck"]["webUrl"]["reason"] == "not_a_string"


def row54(r: Ctx) -> None:
    w: World = r.getfixturevalue("world_b")
    got = check_b(w, 54, [("ok", "http_200")] * len(HOSTILE_TITLES))
    data = front(w.after[B_ROW[54]])
    assert set(data) == {"title", "related"}  # no new top-level keys
    found = 0
    for slot, item in zip(got, data["related"], strict=True):
        title = slot.result.page.title if slot.result and slot.result.page else None
        if title:  # a title that cleans to nothing ("|") is simply not written
            found += 1
            assert set(item) == {"webUrl", "linkCheck", "livePage"}
            assert item["livePage"]["title"] == title  # re-parses exactly
        else:
            assert "title" not in item.get("livePage", {})
    assert found >= len(HOSTILE_TITLES) - 3
    assert data["related"][1]["livePage"]["title"] == "key: value"
    assert_only_our_keys_added(w.before[B_ROW[54]], w.after[B_ROW[54]])


# --- rows 55-60: batch and crash safety -----------------------------------------------------

CLI = [sys.executable, "-m", "enricher"]
FAST_FLAGS = ["--allow-private", "--host-request-interval", "1ms", "--timeout", "5s",
              "--max-attempts", "1", "--quiet"]


async def _until(condition: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll an observable condition (a file, a database row) with a deadline."""
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.005)


def _journal_rows(state: Path) -> int:
    if not state.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{state}?mode=ro", uri=True, timeout=0.1)
        try:
            return int(db.execute("SELECT count(*) FROM journal").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def row55(r: Ctx) -> None:
    tmp: Path = r.getfixturevalue("tmp_path")
    env = {**os.environ, "PYTHONPATH": str(Path(app.__file__).parent.parent)}
    slow = asyncio.Event()

    async def handler(request: Request, conn: Conn) -> None:
        number = int(request.path.rsplit("/", 1)[1])
        if number >= 30 and not slow.is_set():
            await asyncio.sleep(0.3)  # the second half trickles in: the journal commits
        await conn.respond(200, html(f"Page {number}"))

    async def go() -> None:
        async with NetServer(handler) as srv:
            # (a) killed while fetching: nothing written; the rerun resumes from the journal
            first = tmp / "fetching"
            texts = {f"{i:03d}.md": record_text(f"page {i}", [f"http://127.0.0.1:{{port}}/p/{i}"])
                     for i in range(60)}
            before = write_records(first, texts, {"port": srv.port})
            state = tmp / "state.sqlite"
            argv = [*CLI, "enrich", str(first), "--in-place", "--state", str(state), *FAST_FLAGS,
                    "--host-concurrency", "2"]
            proc = await asyncio.create_subprocess_exec(*argv, env=env, cwd=tmp)
            try:
                await _until(lambda: _journal_rows(state) >= 30, 30, "the journal to commit")
            finally:
                proc.kill()  # SIGKILL: no cleanup runs
            assert await proc.wait() == -signal.SIGKILL
            assert snapshot(first) == before  # killed before writing: every file old
            done = _journal_rows(state)
            slow.set()
            arrivals = len(srv.arrivals)
            rerun = await asyncio.create_subprocess_exec(*argv, env=env, cwd=tmp)
            assert await rerun.wait() == ExitCode.OK
            fetched = [a.target for a in srv.arrivals[arrivals:]]
            assert len(fetched) <= 60 - done  # journaled URLs were not fetched again
            assert all("linkCheck" in front(b)["related"][0] for b in snapshot(first).values())

            # (b) killed while writing: each file old or new, never torn; no temp file matches
            second = tmp / "writing"
            texts = {f"{i:04d}.md": record_text(f"story {i}", [
                f"http://127.0.0.1:{{port}}/p/{i % 7}"], body="Body.\n" * 50) for i in range(600)}
            before = write_records(second, texts, {"port": srv.port})
            argv = [*CLI, "enrich", str(second), "--in-place", "--no-state", *FAST_FLAGS]
            proc = await asyncio.create_subprocess_exec(*argv, env=env, cwd=tmp)
            try:
                await _until(lambda: any(p.read_bytes() != before[p.name]
                                         for p in sorted(second.iterdir())[:40]
                                         if p.suffix == ".md"), 30, "the first write")
            finally:
                proc.kill()
            await proc.wait()
            after = snapshot(second)
            assert set(records.iter_record_paths([str(second)])) == {
                (second / n, str(second / n)) for n in before}  # no stray record-like file
            for name, old in before.items():
                new = after[name]
                if new != old:
                    assert_only_our_keys_added(old, new)  # complete, parseable, ours only
            rerun = await asyncio.create_subprocess_exec(*argv, env=env, cwd=tmp)
            assert await rerun.wait() == ExitCode.OK
            assert all("linkCheck" in front((second / n).read_bytes())["related"][0]
                       for n in before)

    started = time.monotonic()
    asyncio.run(go())
    assert time.monotonic() - started < 60


def row56(r: Ctx) -> None:
    tmp: Path = r.getfixturevalue("tmp_path")
    root = tmp / "records"

    async def go() -> None:
        async with NetServer(serve(html("A page"))) as srv:
            texts = {"readonly.md": record_text("ro", ["http://127.0.0.1:{port}/a"]),
                     "writable.md": record_text("rw", ["http://127.0.0.1:{port}/a"])}
            before = write_records(root, texts, {"port": srv.port})
            os.chmod(root / "readonly.md", 0o444)
            config = Config(fetch=fetch_config(allow_private=True), in_place=True)
            run, _, log = await pipeline(root, config, write=True, resolver=FakeResolver())
            assert (root / "readonly.md").read_bytes() == before["readonly.md"]
            assert (root / "writable.md").read_bytes() != before["writable.md"]
            (error,) = run.record_errors
            assert "readonly.md" in str(error) and "read-only" in str(error)
            assert exit_code(run, DEFAULT_FAIL_ON) == ExitCode.USAGE
            assert "read-only" in log

            # a full disk (simulated: a file size limit, EFBIG): the write fails cleanly
            full = tmp / "full"
            before = write_records(full, {f"{i}.md": record_text(f"r{i}", [
                "http://127.0.0.1:{port}/a"]) for i in range(3)}, {"port": srv.port})
            limit = max(len(b) for b in before.values()) + 16

            def small_files() -> None:
                signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
                resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

            proc = await asyncio.create_subprocess_exec(  # stderr: a pipe, not a limited file
                *CLI, "enrich", str(full), "--in-place", "--no-state", *FAST_FLAGS,
                stderr=asyncio.subprocess.PIPE, preexec_fn=small_files, cwd=tmp,
                env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1",
                     "PYTHONPATH": str(Path(app.__file__).parent.parent)})
            _, err = await proc.communicate()
            assert proc.returncode == ExitCode.USAGE, err
            assert snapshot(full) == before  # originals intact, no temp file left
            lines = err.decode().splitlines()
            assert len([x for x in lines if "cannot write" in x]) == 3, lines
            assert not [x for x in lines if "Traceback" in x]

    asyncio.run(go())


@dataclass
class WorldD:
    root: Path
    target: Path
    before: dict[str, bytes]
    modes: dict[str, int]
    first: RunResult
    second: RunResult
    stats1: dict[str, os.stat_result]
    stats2: dict[str, os.stat_result]


@pytest.fixture(scope="module")
def world_d(tmp_path_factory: pytest.TempPathFactory) -> WorldD:
    base = tmp_path_factory.mktemp("world_d")
    root, elsewhere = base / "records", base / "elsewhere"
    elsewhere.mkdir()
    config = Config(fetch=fetch_config(allow_private=True), in_place=True)

    async def go() -> WorldD:
        async with NetServer(serve(html("Stable page"))) as srv:
            texts = {n: record_text(n, [f"http://127.0.0.1:{{port}}/{n}"])
                     for n in ("plain.md", "group.md", "private.md")}
            before = write_records(root, texts, {"port": srv.port})
            target = elsewhere / "target.md"
            target.write_text(record_text("target", [f"http://127.0.0.1:{srv.port}/target"]))
            (root / "link.md").symlink_to(target)
            before["target"] = target.read_bytes()
            modes = {"plain.md": 0o644, "group.md": 0o640, "private.md": 0o600}
            for name, mode in modes.items():
                os.chmod(root / name, mode)

            def stats() -> dict[str, os.stat_result]:
                out = {p.name: os.stat(p) for p in root.iterdir()}
                out["link-itself"] = os.lstat(root / "link.md")
                return out

            first, *_ = await pipeline(root, config, write=True, resolver=FakeResolver())
            stats1 = stats()
            second, *_ = await pipeline(root, config, write=True, resolver=FakeResolver())
            return WorldD(root, target, before, modes, first, second, stats1, stats())

    return asyncio.run(go())


def row57(r: Ctx) -> None:
    d: WorldD = r.getfixturevalue("world_d")
    assert d.first.records.changed == 4
    for name, mode in d.modes.items():
        assert stat.S_IMODE(d.stats1[name].st_mode) == mode, name  # not mkstemp's 0600
        assert (d.root / name).read_bytes() != d.before[name]


def row58(r: Ctx) -> None:
    d: WorldD = r.getfixturevalue("world_d")
    assert SYMLINKS.startswith("follow")
    link = d.root / "link.md"
    assert link.is_symlink() and os.readlink(link) == str(d.target)  # still a link
    assert d.target.read_bytes() != d.before["target"]  # the target was rewritten
    assert "linkCheck" in front(d.target.read_bytes())["related"][0]
    assert not d.first.record_errors and exit_code(d.first, DEFAULT_FAIL_ON) == ExitCode.OK


def row59(r: Ctx) -> None:
    tmp: Path = r.getfixturevalue("tmp_path")
    root, state = tmp / "records", tmp / "state" / "state.sqlite"
    entered, release = asyncio.Event(), asyncio.Event()

    async def slow(request: Request, conn: Conn) -> None:
        entered.set()
        await release.wait()
        await conn.respond(200, html("slow"))

    async def go() -> tuple[RunResult, int, str]:
        async with NetServer(slow) as srv:
            before = write_records(root, {"a.md": record_text("a", ["http://127.0.0.1:{port}/"])},
                                   {"port": srv.port})
            config = Config(fetch=fetch_config(allow_private=True, request_deadline=10.0,
                                               read_timeout=10.0), in_place=True,
                            state_file=str(state))
            first = asyncio.create_task(pipeline(root, config, write=True,
                                                 resolver=FakeResolver()))
            await asyncio.wait_for(entered.wait(), 10)  # the first run is mid-fetch
            with pytest.raises(StateLocked):
                await pipeline(root, config, write=True, resolver=FakeResolver())
            out, err = io.StringIO(), io.StringIO()
            started = time.monotonic()
            code = await asyncio.to_thread(main, [
                "enrich", str(root), "--in-place", "--state", str(state), "--allow-private"],
                Env(stdin=io.StringIO(), stdout=out, stderr=err, force_terminal=False))
            assert time.monotonic() - started < 5  # exits at once, fetches nothing
            assert (root / "a.md").read_bytes() == before["a.md"]
            release.set()
            run, *_ = await first
            return run, code, err.getvalue()

    run, code, err = asyncio.run(go())
    assert code == ExitCode.USAGE
    assert err.count("\n") == 1 and str(state) in err and "Traceback" not in err
    assert not run.aborted and run.records.changed == 1  # the first run finished normally
    with History.open(state) as history:  # and released its lock
        assert history.last_run() is not None


def row60(r: Ctx) -> None:
    d: WorldD = r.getfixturevalue("world_d")
    assert d.second.records.changed == 0 and d.second.records.unchanged == 4
    for name, first in d.stats1.items():
        second = d.stats2[name]
        assert (first.st_mtime_ns, first.st_ino) == (second.st_mtime_ns, second.st_ino), name


ROWS: dict[int, Callable[[Ctx], None]] = {
    n: globals()[f"row{n:02d}"] for n in range(1, 61)
}


@pytest.mark.parametrize("row", sorted(ROWS), ids=lambda n: f"row{n:02d}")
def test_row(row: int, request: pytest.FixtureRequest) -> None:
    ROWS[row](request)


# --- the table stays true -------------------------------------------------------------------

HOSTILE_MD = Path(__file__).resolve().parents[2] / "shared" / "hostile.md"


def _table() -> dict[int, tuple[str, str]]:
    assert __doc__ is not None
    out = {}
    for line in __doc__.splitlines():
        match = re.match(r"\| (\d+) \| test_row\[row(\d+)\] [^|]*\| (\S+)::(\w+) \|$", line)
        if match:
            assert int(match.group(1)) == int(match.group(2)), line
            out[int(match.group(1))] = (match.group(3), match.group(4))
    return out


def test_every_row_has_a_test_and_a_table_entry() -> None:
    assert sorted(ROWS) == list(range(1, 61))
    assert sorted(_table()) == list(range(1, 61))
    if HOSTILE_MD.is_file():  # the catalogue itself, when the shared folder is there
        numbers = re.findall(r"^\| (\d+) \|", HOSTILE_MD.read_text(), re.M)
        assert sorted(int(n) for n in numbers) == list(range(1, 61))


def test_referenced_tests_exist() -> None:
    tests = Path(__file__).parent
    sys.path.insert(0, str(tests))
    try:
        for row, (module_file, name) in _table().items():
            assert (tests / module_file).is_file(), (row, module_file)
            module = importlib.import_module(module_file.removesuffix(".py"))
            assert callable(getattr(module, name, None)), (row, module_file, name)
    finally:
        sys.path.remove(str(tests))


def test_login_redirect_rule() -> None:  # row 28, the verdict alone
    from enricher.classify import classify
    from enricher.models import FetchResult, Hop

    def verdict(url: str, final: str, status: int = 302) -> tuple[str, str, str | None]:
        result = FetchResult(url=url, kind=LinkKind.PAGE, http_status=200, final_url=final,
                             redirects=(Hop(url, status),))
        v = classify(result)
        return v.status.value, v.reason, v.final_url

    news = "https://news.example/2024/05/story"
    for login in ("/login", "/account/login?next=/x", "/users/sign_in", "/wp-login.php",
                  "/Sign-In/"):
        assert verdict(news, "https://news.example" + login) == ("blocked", "login_redirect",
                                                                 None)
    assert verdict(news, "https://news.example/login", 301)[:2] == ("blocked", "login_redirect")
    assert verdict(news, "https://sso.example/login")[:2] == ("ok", "http_200")  # another host
    assert verdict("https://news.example/login", "https://news.example/login/")[1] == "http_200"
    assert verdict(news, "https://news.example/logins-and-more")[1] == "http_200"


def test_decisions_are_stated() -> None:
    assert __doc__ is not None
    for name in ("MIXED_DNS", "PORTS", "SYMLINKS", "LOGIN_REDIRECT", "WHITESPACE", "USERINFO"):
        assert f"``{name}``" in __doc__

