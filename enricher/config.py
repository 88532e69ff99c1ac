"""Configuration: every default number in one place, and the frozen values that carry them.

Defaults are the ``DEFAULT_*`` constants below; the README documents each one. Loading from
files, the environment and flags lives in ``enricher.settings``. This module must not do I/O
or import third-party libraries.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from enricher import __version__

PROJECT_URL = "https://github.com/enricher-project/enricher"
DEFAULT_USER_AGENT = f"enricher/{__version__} (+{PROJECT_URL})"

# --- politeness (flag names as lychee users know them) ---------------------------------
DEFAULT_MAX_CONCURRENCY = 128  # requests in flight over all hosts
DEFAULT_HOST_CONCURRENCY = 4  # requests in flight per host
DEFAULT_HOST_REQUEST_INTERVAL = 0.1  # least seconds between request starts per host
DEFAULT_HOST_INTERVAL_JITTER = 0.1  # a gap is the interval plus up to 10% of it
LONG_INTERVAL = 10.0  # a host request interval this long or longer gets a warning

# --- timeouts (seconds) ---------------------------------------------------------------------
DEFAULT_CONNECT_TIMEOUT = 10.0
DEFAULT_READ_TIMEOUT = 15.0
DEFAULT_REQUEST_DEADLINE = 30.0  # total per attempt, body included (stops drip-feeding)
DEFAULT_DNS_TIMEOUT = 5.0
# a name every working resolver finds: asked before any "no such name" is believed, and
# again after a minute (an offline or captive resolver denies every name; its links are
# not dead)
DEFAULT_DNS_CANARY = "example.com"

# --- retries --------------------------------------------------------------------------------
DEFAULT_MAX_ATTEMPTS = 3
DEFAULT_BACKOFF_BASE = 0.5  # seconds; exponential with full jitter
DEFAULT_BACKOFF_MAX = 10.0
DEFAULT_RETRY_AFTER_CAP = 60.0  # a longer Retry-After gives up with reason retry_after_too_long

# --- redirects and sizes --------------------------------------------------------------------
DEFAULT_MAX_REDIRECTS = 10
DEFAULT_PAGE_BYTES = 512 * 1024  # decoded bytes read from an article page at most
DEFAULT_PAGE_AFTER_HEAD_BYTES = 128 * 1024  # ... and at most this much after </head>
DEFAULT_IMAGE_BYTES = 64 * 1024  # bytes read from an image for type and size
DEFAULT_REACH_BYTES = 16 * 1024  # bytes read on a GET fallback for reachability
DEFAULT_MAX_HEADER_BYTES = 64 * 1024
DEFAULT_HTML_PARSE_BYTES = 512 * 1024  # HTML handed to the parser at most
DEFAULT_MAX_URL_LENGTH = 8 * 1024
DEFAULT_MAX_RECORD_BYTES = 5 * 1024 * 1024
MAX_RECORD_BYTES_LIMIT = 1024 * 1024 * 1024  # max_record_bytes above this is a config error
MAX_COUNT = 1_000_000  # the largest concurrency, attempts, redirects or confirm_runs accepted
MAX_DURATION_DAYS = 3650  # any longer duration (max_age, confirm_days, ...) is a config error
DEFAULT_MAX_URLS_PER_RECORD = 2_000
DEFAULT_MAX_YAML_NODES = 100_000  # what one record's front matter may expand to (alias bombs)
DEFAULT_TITLE_MAX_CHARS = 500
MAX_IMAGE_SIDE_PX = 100_000  # a width or height beyond this (probed or declared) is unknown

# --- circuit breaker and outage guard -------------------------------------------------------
DEFAULT_BREAKER_THRESHOLD = 3  # consecutive connect failures/timeouts before a host is skipped
DEFAULT_BREAKER_COOLDOWN = 30.0  # seconds before a tripped origin gets a probe (then doubled)
BREAKER_PROBES = 2  # failed probes after which a tripped origin is skipped for the run
DEFAULT_OUTAGE_MIN_HOSTS = 20  # hosts tried before the outage guard may judge
DEFAULT_OUTAGE_RATIO = 0.95  # share of tried hosts failing at connection level => abort
CANARY_RECHECK_SECONDS = 60.0  # a DNS canary answer older than this is asked again
# the scheduler's load governor: event-loop lag (seconds) that shrinks the global limit, and
# the lag below which it grows back
GOVERNOR_LAG_HIGH, GOVERNOR_LAG_LOW = 0.008, 0.003

# --- address policy -------------------------------------------------------------------------
DEFAULT_ALLOWED_LOW_PORTS = frozenset({80, 443})  # ports below 1024 other than these: skipped
# fixed limits (not settings; the README states them)
MAX_IDLE_CONNECTIONS = 512  # idle keep-alive connections a run keeps over all hosts
MAX_OPEN_POOLS = 256  # per-host connection pools (transports) a run keeps open at once
MAX_DECLARED_BYTES = 1 << 30  # a body the server says is bigger is not read at all
OPEN_FILES_WANTED = 65536  # the soft limit of open files a run raises itself to
OPEN_FILES_SPARE = 64  # files beside 2 per request (records, history, reports, the worker)
STALE_TEMP_SECONDS = 3600.0  # a record's temp file this old belongs to a killed run

# --- history (nightly runs) -----------------------------------------------------------------
DEFAULT_STATE_FILE = ".enricher/state.sqlite"
DEFAULT_CONFIRM_RUNS = 3
DEFAULT_CONFIRM_DAYS = 2.0
RESUME_WINDOW_HOURS = 6  # a killed run's journaled results are resumed this long
JOURNAL_SECONDS = 1.0  # finished URLs are committed to the history at least this often
FORGET_AFTER_DAYS = 30  # a URL not checked for this long leaves the history
KEEP_RUNS = 1000  # run rows kept
KEEP_CHANGES = 30  # runs whose change report is kept (each lists every still-dead URL)
CONFIRM_SLACK_HOURS = 3  # taken off confirm_days (at most 1/16 of it): a late cron still counts
FLAP_HISTORY = 6  # checks kept per URL for the flapping rule ...
FLAP_CHANGES = 3  # ... and the good<->bad changes among them that make it flapping

# --- output ---------------------------------------------------------------------------------
DEFAULT_OUT_DIR = "enriched"
DEFAULT_FAIL_ON = frozenset({"dead"})
DEFAULT_PROGRESS_INTERVAL = 10.0  # seconds between plain progress lines when not a terminal


def shown_duration(seconds: float) -> str:
    """A default duration as the README and ``--help`` write it: ``0.1`` -> ``100ms``."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms"
    for unit, size in (("d", 86400), ("h", 3600)):  # 3650d, not 3.1536e+08s
        if seconds >= size and seconds % size == 0:
            return f"{seconds / size:g}{unit}"
    return f"{seconds:g}s"


@dataclass(frozen=True, slots=True)
class HostPolicy:
    """Per-host overrides; None means "use the global value"."""

    concurrency: int | None = None
    interval: float | None = None
    headers: Mapping[str, str] = field(default_factory=dict)
    user_agent: str | None = None


@dataclass(frozen=True, slots=True)
class FetchConfig:
    """Everything the network layer needs, and nothing about records."""

    user_agent: str = DEFAULT_USER_AGENT
    headers: Mapping[str, str] = field(default_factory=dict)
    max_concurrency: int = DEFAULT_MAX_CONCURRENCY
    host_concurrency: int = DEFAULT_HOST_CONCURRENCY
    host_request_interval: float = DEFAULT_HOST_REQUEST_INTERVAL
    host_interval_jitter: float = DEFAULT_HOST_INTERVAL_JITTER
    hosts: Mapping[str, HostPolicy] = field(default_factory=dict)  # key: host (punycode, lower)
    connect_timeout: float = DEFAULT_CONNECT_TIMEOUT
    read_timeout: float = DEFAULT_READ_TIMEOUT
    request_deadline: float = DEFAULT_REQUEST_DEADLINE
    dns_timeout: float = DEFAULT_DNS_TIMEOUT
    dns_canary: str | None = DEFAULT_DNS_CANARY  # None: believe every NXDOMAIN
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_base: float = DEFAULT_BACKOFF_BASE
    backoff_max: float = DEFAULT_BACKOFF_MAX
    retry_after_cap: float = DEFAULT_RETRY_AFTER_CAP
    max_redirects: int = DEFAULT_MAX_REDIRECTS
    page_bytes: int = DEFAULT_PAGE_BYTES
    page_after_head_bytes: int = DEFAULT_PAGE_AFTER_HEAD_BYTES
    image_bytes: int = DEFAULT_IMAGE_BYTES
    reach_bytes: int = DEFAULT_REACH_BYTES
    max_header_bytes: int = DEFAULT_MAX_HEADER_BYTES
    breaker_threshold: int = DEFAULT_BREAKER_THRESHOLD
    breaker_cooldown: float = DEFAULT_BREAKER_COOLDOWN
    allow_private: bool = False
    allowed_low_ports: frozenset[int] = DEFAULT_ALLOWED_LOW_PORTS
    proxy: str | None = None
    ca_bundle: str | None = None
    # HTTP/2 is opt-in: httpcore 1.0 never resets a stream closed before its end (we stop
    # reading pages after the head), so a server refuses new streams after 100 such pages on
    # one connection and keeps sending the rest of each body (encode/httpcore#943)
    http2: bool = False
    accepted_status: frozenset[int] = frozenset()  # extra codes counted as ok (e.g. 403)


@dataclass(frozen=True, slots=True)
class Config:
    """One run's settings, after flags > environment > file > defaults."""

    fetch: FetchConfig = field(default_factory=FetchConfig)
    include: tuple[str, ...] = ()  # URL regexes; when given, only matching URLs are checked
    exclude: tuple[str, ...] = ()  # URL regexes; matching URLs are skipped
    out_dir: str = DEFAULT_OUT_DIR
    in_place: bool = False
    dry_run: bool = False
    fail_on: frozenset[str] = DEFAULT_FAIL_ON
    fill_missing: bool = False
    update_redirects: bool = False
    prune_dead: bool = False
    state_file: str | None = DEFAULT_STATE_FILE  # None: no history (--no-state)
    max_age: float | None = None  # seconds; reuse ok results younger than this
    confirm_runs: int = DEFAULT_CONFIRM_RUNS
    confirm_days: float = DEFAULT_CONFIRM_DAYS
    max_record_bytes: int = DEFAULT_MAX_RECORD_BYTES
    max_urls_per_record: int = DEFAULT_MAX_URLS_PER_RECORD
    max_url_length: int = DEFAULT_MAX_URL_LENGTH
    outage_min_hosts: int = DEFAULT_OUTAGE_MIN_HOSTS
    outage_ratio: float = DEFAULT_OUTAGE_RATIO
    progress_interval: float = DEFAULT_PROGRESS_INTERVAL
    # read records in a worker process on large runs (``enricher.reading``); the library
    # turns it off: a spawned worker re-imports the caller's ``__main__`` (an unguarded
    # script would run twice)
    reading_worker: bool = True

    def __post_init__(self) -> None:
        # one include or exclude pattern given as a string (a library caller's
        # ``Config(include="art")``) is one pattern, not one a character
        for name in ("include", "exclude"):
            if isinstance(getattr(self, name), str):
                object.__setattr__(self, name, (getattr(self, name),))
