"""The command line's arguments: the parser (flags, help texts, defaults shown from
``enricher.config``), and parsing with one-line usage errors.

It must not read settings, records or the network, nor print anything but argparse's own
help and usage errors.
"""

from __future__ import annotations

import argparse
import re
import shlex
from collections.abc import Mapping, Sequence
from typing import NoReturn

from enricher import __version__
from enricher import config as defaults
from enricher.config import DEFAULT_OUT_DIR, shown_duration

USAGE = 2  # enricher.cli.USAGE


# (flag, metavar, help); the setting's key is the flag without dashes (settings.flag_name).
# Defaults are shown from enricher.config, the one place they live.
_NETWORK_FLAGS: tuple[tuple[str, str, str], ...] = (
    ("--max-concurrency", "N",
     f"requests in flight over all hosts (default {defaults.DEFAULT_MAX_CONCURRENCY})"),
    ("--host-concurrency", "N",
     f"requests in flight per host (default {defaults.DEFAULT_HOST_CONCURRENCY})"),
    ("--host-request-interval", "DURATION", "minimum time between request starts per host, "
     f"e.g. 100ms (default {shown_duration(defaults.DEFAULT_HOST_REQUEST_INTERVAL)})"),
    ("--timeout", "DURATION", "total deadline per request attempt "
     f"(default {shown_duration(defaults.DEFAULT_REQUEST_DEADLINE)})"),
    ("--connect-timeout", "DURATION",
     f"TCP/TLS connect timeout (default {shown_duration(defaults.DEFAULT_CONNECT_TIMEOUT)})"),
    ("--max-attempts", "N", "attempts per URL for transient failures "
     f"(default {defaults.DEFAULT_MAX_ATTEMPTS})"),
    ("--max-redirects", "N", f"redirect hops followed (default {defaults.DEFAULT_MAX_REDIRECTS})"),
    ("--user-agent", "TEXT", f"User-Agent header (default {defaults.DEFAULT_USER_AGENT})"),
    ("--proxy", "URL", "http(s) proxy for all requests (HTTP_PROXY etc. are honoured too)"),
    ("--ca-bundle", "FILE", "CA certificates (PEM) to trust (SSL_CERT_FILE is honoured too)"),
    ("--max-age", "DURATION", "reuse ok results younger than this from the history, e.g. 20h"),
    ("--state", "FILE", f"history database (default {defaults.DEFAULT_STATE_FILE})"),
)
_FAIL_ON_DEFAULT = ",".join(sorted(defaults.DEFAULT_FAIL_ON))


def _common(p: argparse.ArgumentParser, listing: bool = False) -> None:
    p.add_argument("paths", nargs="*", metavar="PATH",
                   help="record files, folders or globs; - reads paths from stdin")
    p.add_argument(
        "--config",
        metavar="FILE",
        help="config file (default: enricher.toml or [tool.enricher] in pyproject.toml, "
        "searched upwards)",
    )
    same = "accepted for symmetry with check; the listing is the same"
    talk = p.add_mutually_exclusive_group()  # -q -v printed every URL's line
    talk.add_argument("-q", "--quiet", action="store_true", help=same if listing else
                      "print only errors: record errors, an aborted run, warnings")
    talk.add_argument("-v", "--verbose", action="store_true",
                      help=same if listing else "one line per URL")
    _no_color(p)


def _no_color(p: argparse.ArgumentParser) -> None:
    p.add_argument("--no-color", action="store_true",
                   help="no colours (the NO_COLOR and FORCE_COLOR variables are honoured too)")


def _network(p: argparse.ArgumentParser) -> None:
    for flag, metavar, text in _NETWORK_FLAGS:
        p.add_argument(flag, dest=flag[2:].replace("-", "_"), metavar=metavar, help=text)
    p.add_argument(
        "--header",
        dest="headers",
        action="append",
        metavar="'NAME: VALUE'",
        help="extra request header (repeatable)",
    )
    p.add_argument(
        "--include", action="append", metavar="REGEX", help="check only URLs matching (repeatable)"
    )
    p.add_argument(
        "--exclude", action="append", metavar="REGEX", help="skip URLs matching (repeatable)"
    )
    p.add_argument(
        "--accept",
        metavar="CODES",
        help="extra HTTP codes counted as ok, e.g. 403,999 or 200..=299",
    )
    _switch(p, "--allow-private", "switch the address policy off (local testing only)")
    _report_options(p)
    p.add_argument("--results", metavar="FILE", help="per-URL results as JSON Lines (- for stdout)")
    p.add_argument("--no-state", action="store_true",
                   help="keep no history (no since/confirmed, no --max-age; wins over --state)")


def _switch(p: argparse.ArgumentParser, flag: str, text: str) -> None:
    """A switch, --x or --no-x, None when not given (so a config file's value stands)."""
    p.add_argument(flag, dest=flag[2:].replace("-", "_"), action=argparse.BooleanOptionalAction,
                   default=None, help=text)


def _report_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--fail-on", dest="fail_on", metavar="STATUSES",
                   help=f"statuses that make the exit status 1 (default {_FAIL_ON_DEFAULT})")
    p.add_argument("--report", action="append", metavar="FILE",
                   help="write a report; format from the extension or --format (repeatable)")
    p.add_argument("--format", dest="report_format", type=str.lower,  # md, MD, Md alike
                   choices=("json", "jsonl", "md", "csv", "html", "junit",
                            "markdown", "ndjson", "htm", "xml"),
                   help="report format when the extension does not say")


class _Parser(argparse.ArgumentParser):
    """argparse, with a usage error as one line that says where the help is."""

    def error(self, message: str) -> NoReturn:
        from enricher.report.model import printable  # an argument may hold a terminal escape

        self.exit(USAGE, f"{self.prog}: {printable(message)}; see '{self.prog} --help'\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="enricher", description="Check and enrich the links in news records.")
    parser.add_argument(
        "--version",
        action="version",
        version=f"enricher {__version__}",
        help="print the version and exit",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    check = sub.add_parser("check", help="check every URL; never writes records")
    _common(check)
    _network(check)
    enrich = sub.add_parser("enrich", help="check, then write enriched records")
    _common(enrich)
    _network(enrich)
    enrich.add_argument(
        "--out",
        metavar="DIR",
        help=f"write enriched records under DIR, mirroring the input tree "
        f"(default {DEFAULT_OUT_DIR})",
    )
    _switch(enrich, "--in-place", "rewrite the input records")
    enrich.add_argument("--dry-run", action="store_true",
                        help="show which records and keys would change; write no record and "
                        "no history (--results and reports are written)")
    _switch(enrich, "--fill-missing", "fill empty title/excerpt/images from the live page")
    _switch(enrich, "--update-redirects", "replace a URL by its permanent-redirect target "
            "(old URL kept in linkCheck.<field>.previousUrl)")
    _switch(enrich, "--prune-dead",
            "move related items whose webUrl is confirmed dead into deadRelated")
    links = sub.add_parser("links", help="list every URL slot (no network)")
    _common(links, listing=True)
    links.add_argument(
        "--format",
        dest="links_format",
        type=str.lower, choices=("text", "jsonl"),
        default="text",
        help="text (default) or jsonl",
    )
    report = sub.add_parser("report", help="reports from the run history (no network)")
    report.add_argument(
        "--state", metavar="FILE",
        help=f"history database (default {defaults.DEFAULT_STATE_FILE})",
    )
    _report_options(report)
    report.add_argument("--config", metavar="FILE", help="config file")
    report.add_argument("-q", "--quiet", action="store_true", help="no summary")
    _no_color(report)
    demo = sub.add_parser("demo", help="run enrich offline against a local demo web")
    demo.add_argument(
        "--out",
        metavar="DIR",
        default=None,
        help="where the demo writes (default ./enricher-demo)",  # demo.DEFAULT_DEMO_DIR
    )
    _no_color(demo)
    return parser


_VALUE_FLAGS = frozenset(
    {flag for flag, _, _ in _NETWORK_FLAGS} | {"--accept", "--header", "--include", "--exclude"}
)
_NEGATIVE = re.compile(r"-\d")


def _glue_negative_values(argv: Sequence[str]) -> list[str]:
    """``--timeout -1s`` -> ``--timeout=-1s``: argparse takes ``-1s`` for an option and
    prints its usage dump; glued, the value reaches the settings and gets a one-line error."""
    out = list(argv)
    end = out.index("--") if "--" in out else len(out)  # after --, everything is a path
    for i in range(end - 2, -1, -1):
        if out[i] in _VALUE_FLAGS and _NEGATIVE.match(out[i + 1]):
            out[i : i + 2] = [f"{out[i]}={out[i + 1]}"]
    return out


def parse_args(parser: argparse.ArgumentParser, argv: Sequence[str]) -> argparse.Namespace:
    """Parse ``argv``; an unknown argument is reported with the usage of its subcommand, and
    a command's option put before it (``enricher -q check x``) is told where it goes."""
    subs = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    at = _command_at(argv, subs.choices)
    first = argv[0].split("=")[0] if argv else ""
    if at and first in subs.choices[argv[at]]._option_string_actions and (
            first not in parser._option_string_actions):  # not -h or --version
        line = shlex.join(["enricher", argv[at], *argv[:at], *argv[at + 1:]])
        subs.choices[argv[at]].error(f"{first} goes after the command: {line}")
    args, extra = parser.parse_known_args(_glue_negative_values(argv))
    if extra:
        sub = subs.choices[args.command] if args.command else parser
        sub.error(f"unrecognized arguments: {' '.join(extra)}")
    return args


def _command_at(argv: Sequence[str], commands: Mapping[str, argparse.ArgumentParser]) -> int:
    """Where the command is in ``argv``: the first command name that is no option's value
    (``enricher --report report check x``); 0 when there is none before ``--``."""
    valued = {flag for command in commands.values()
              for flag, action in command._option_string_actions.items() if action.nargs != 0}
    for i, arg in enumerate(argv):
        if arg == "--":
            return 0
        if arg in commands and not (i and argv[i - 1] in valued):
            return i
    return 0
