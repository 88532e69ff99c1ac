"""Checks before a run, on settings already parsed: can the network settings, the inputs
(``finding.check_inputs``) and output files be used, and which options will have no effect.
Each failure is one ``ConfigError`` (or ``UsageError``) line naming the option and the fix
(exit status 2), raised before anything is read, fetched or written (an output folder gets
a probe file, made and removed at once, to prove it can be written).

This module must not fetch (it loads a CA file at most), read records or print.
"""

from __future__ import annotations

import errno
import glob
import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from enricher.config import (
    DEFAULT_STATE_FILE,
    LONG_INTERVAL,
    OPEN_FILES_SPARE,
    Config,
    shown_duration,
)
from enricher.finding import check_inputs as check_inputs  # cli's: inputs before the run
from enricher.finding import input_folder, is_record_name, special_file, symlink_loop
from enricher.settings import ConfigError, Settings, flag_name


def without_history(config: Config, write: bool,
                    labels: Mapping[str, str] | None = None) -> tuple[str, ...]:
    """One line per option that needs the run history, in a run that keeps none
    (``--no-state``): not an error (a one-off ``--no-state`` run need not edit the config
    file), but said. ``write``: the run writes records (``--prune-dead`` matters).
    ``labels`` (``Settings.labels``): where each was set (a flag, a variable, a file's key)."""
    if config.state_file:
        return ()
    needs = [("max_age", config.max_age is not None, "no result is reused"),
             ("prune_dead", write and config.prune_dead,
              "nothing is ever confirmed dead, so nothing moves")]
    named = labels or {}
    return tuple(f"{named.get(key) or flag_name(key)} has no effect without a history "
                 f"(--no-state, or an empty state setting): {effect}"
                 for key, on, effect in needs if on)


def new_history(config: Config) -> tuple[str, ...]:
    """One line when the folder of a history other than the default does not exist: the run
    creates it, and a typo in ``--state`` would start an empty history (nothing confirmed
    dead any more) while the real one waits elsewhere."""
    state = config.state_file
    folder = os.path.dirname(state) if state else ""
    if not folder or state == DEFAULT_STATE_FILE or os.path.lexists(folder):
        return ()
    return (f"the folder {folder} of the history {state} does not exist: this run creates it "
            "and starts a new history (if the path is a typo, the earlier runs' history is "
            "not used)",)


def warnings(settings: Settings, write: bool, environ: Mapping[str, str] | None, *,
             flag: bool) -> tuple[str, ...]:
    """The run's warning lines (not errors): options without effect, a policy switched off."""
    environ = os.environ if environ is None else environ
    return (*without_history(settings.config, write, settings.labels),
            *new_history(settings.config), *_long_interval(settings),
            *_few_open_files(settings.config.fetch.max_concurrency),
            *_policy_off(settings.config, flag, settings.source, environ))


def _few_open_files(max_concurrency: int, hard: int | None = None) -> tuple[str, ...]:
    """One line when the open-files hard limit (``hard``: the process's) leaves too few for
    the run's connections: each request holds a socket, beside records, the history and
    idle connections, and past the limit sites fail with "Too many open files" (as
    ``error``, never ``dead``; records that cannot be opened fail the same way)."""
    if hard is None:
        try:
            import resource
        except ImportError:  # pragma: no cover - not a POSIX system
            return ()
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        hard = None if hard == resource.RLIM_INFINITY else hard
    need = 2 * max_concurrency + OPEN_FILES_SPARE
    if hard is None or hard >= need:
        return ()
    return (f"the open-files limit is {hard}, too low for --max-concurrency {max_concurrency} "
            f"(it needs about {need}): raise it (ulimit -n) or lower --max-concurrency",)


def _long_interval(settings: Settings) -> tuple[str, ...]:
    """One line per host request interval of 10 s or more (the run's, a ``[hosts]`` table's):
    a plain number is seconds, so ``--host-request-interval 100`` meant for milliseconds
    takes hours."""
    fetch = settings.config.fetch
    label = settings.labels.get("host_request_interval") or flag_name("host_request_interval")
    given = [(label, fetch.host_request_interval)] + [
        (f'[hosts."{host}"] interval', policy.interval) for host, policy in fetch.hosts.items()
        if policy.interval is not None]
    return tuple(f"{name} is {shown_duration(interval)}: one request per "
                 f"{shown_duration(interval)} to a host (a plain number is seconds: for "
                 "milliseconds, write the unit, as in 100ms)"
                 for name, interval in given if interval >= LONG_INTERVAL)


def _policy_off(config: Config, flag: bool, source: str | None,
                environ: Mapping[str, str]) -> tuple[str, ...]:
    """One line when the address policy is off by a config file or an ``ENRICHER_*``
    variable rather than by ``--allow-private`` on this command line: a setting in a folder
    above, or in the cron job's environment, must not switch SSRF protection off unseen."""
    if not config.fetch.allow_private or flag:
        return ()
    where = ("ENRICHER_ALLOW_PRIVATE" if "ENRICHER_ALLOW_PRIVATE" in environ
             else source or "the settings")
    return (f"the address policy is off (allow_private, from {where}): private, loopback and "
            "metadata addresses will be fetched",)


def check_network(config: Config, environ: Mapping[str, str] | None = None,
                  labels: Mapping[str, str] | None = None) -> None:
    """ConfigError unless the proxy and CA settings (``proxy``, ``ca_bundle``, ``HTTP_PROXY``
    and friends, ``SSL_CERT_FILE``/``SSL_CERT_DIR``) can be used: one line before anything is
    read or fetched, not a traceback mid-run. ``labels`` (``Settings.labels``) name where a
    setting was given (``--proxy``, ``enricher.toml: proxy``). Loads the CA file; connects
    nowhere."""
    from enricher.net.proxies import ProxyRoutes, ssl_context

    environ, labels = os.environ if environ is None else environ, labels or {}
    try:
        ProxyRoutes.build(config.fetch.proxy, environ, labels.get("proxy", "proxy"))
        ssl_context(config.fetch.ca_bundle, environ, labels.get("ca_bundle", "ca_bundle"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def check_outputs(outputs: Sequence[tuple[str, str]], *, state: str | None = None,
                  inputs: Sequence[str] = (), out: str | None = None,
                  labels: Mapping[str, str] | None = None) -> None:
    """ConfigError unless every output file ``(option, path)`` can be written: its folder
    (a symlink's target's: the report goes there) exists, is a folder and is writable (``-``
    is stdout), and it is no record (a report written over ``keep.md`` would replace the
    record). Called before anything is fetched or written, so a typo in ``--results`` does
    not surface after the run. Two outputs may not be one file (compared by realpath; ``-``
    is ``/dev/stdout``): one would replace the other, and two on stdout interleave into
    something no reader can parse. None may be a file of the history ``state`` (its
    database, lock or SQLite side files), nor a record file inside a folder of ``inputs``
    (the next run would read it as a record). ``out``: ``enrich``'s ``--out``, checked too
    (``labels``: where it was set, for the message), and that it is not the inputs' folder."""
    to_stdout = [option for option, path in outputs if path == "-"]
    if len(to_stdout) > 1:
        raise ConfigError(f"{to_stdout[1]} -: {to_stdout[0]} already writes to stdout; "
                          "write one of them to a file")
    for option, path in outputs:
        if path != "-" and (problem := _output_problem(path)):
            raise ConfigError(f"{option} {path}: {problem}")
    _check_overlaps(outputs, state, inputs)
    if out is not None:
        check_out_folder(out, (labels or {}).get("out", "--out"))
        if "-" not in inputs:  # else the paths on stdin decide what it mirrors
            from enricher.writing import out_root

            out_root(inputs, (), out)  # not the input folder: no history opened for that


def _output_problem(path: str) -> str | None:
    """Why the output file ``path`` cannot be written, or None."""
    if "\0" in path:
        return "the name holds a NUL character; fix the name"
    # through a symlink the writer writes to its target (report.write_report): check that
    target = Path(os.path.realpath(path)) if os.path.islink(path) else Path(path)
    folder = target.parent
    via = f" (the symlink's target is {target})" if target != Path(path) else ""
    try:
        if os.path.islink(path) and symlink_loop(path):
            return "is a symlink loop; fix the link or choose another path"
        if target.is_dir():
            return f"is a folder{via}; give a file name"
        if not folder.exists():
            return f"folder {folder} does not exist{via}; create it or choose another path"
        if not folder.is_dir():
            return f"{folder} is not a folder{via}; choose another path"
        if not os.access(folder, os.W_OK | os.X_OK):
            return f"folder {folder} is not writable{via}; choose another path"
        if target.exists() and not os.access(target, os.W_OK):
            return "is not writable; choose another path"
        if not special_file(path):  # (a FIFO or device is written to, not replaced)
            # the writer's temporary file, for real: root passes os.access on a read-only
            # mount, and /proc looks writable
            probe = os.path.join(folder, f".enricher-probe-{os.getpid()}.tmp")
            try:
                os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            except FileExistsError:  # a killed run's, of a pid that was ours: made here once
                pass
            except OSError as exc:
                return (f"folder {folder} cannot be written ({exc.strerror or exc}){via}; "
                        "choose another path")
            os.unlink(probe)
    except OSError as exc:  # Python 3.11: a name over 255 bytes raises, it is not "missing"
        return _unusable(exc)
    if _is_record(target):
        return "is a record (it starts with front matter); write to another file"
    return None


def _unusable(exc: OSError) -> str:
    """A path the system will not look up (a name too long, a folder that cannot be
    searched), as the end of a one-line message."""
    fix = "choose a shorter name" if exc.errno == errno.ENAMETOOLONG else "choose another path"
    return f"cannot be used ({exc.strerror or exc}); {fix}"


#: the files of a history: the SQLite database, its side files and the run lock (state_lock)
_HISTORY_FILES = ("", ".lock", "-wal", "-shm", "-journal")


def _check_overlaps(outputs: Sequence[tuple[str, str]], state: str | None,
                    inputs: Sequence[str]) -> None:
    """ConfigError when an output is another output's file, a file of the history, or a
    record file in an input folder or a glob's folder (paths compared resolved)."""
    history = {os.path.realpath(state) + end for end in _HISTORY_FILES} | {
        os.path.realpath(state + end) for end in _HISTORY_FILES} if state else set()
    folders = [os.path.realpath(input_folder(item)).rstrip(os.sep) + os.sep  # a glob's too
               for item in inputs if item != "-" and (os.path.isdir(item) or (
                   glob.has_magic(item) and not os.path.lexists(item)))]
    seen: dict[str, tuple[str, str]] = {}  # realpath -> (option, path) writing it
    for option, path in outputs:
        real = os.path.realpath("/dev/stdout" if path == "-" else path)
        if (first := seen.get(real)) and real != os.devnull:
            where = ("stdout; write one of them to a file" if "-" in (path, first[1])
                     else "this file; give each output its own file")
            raise ConfigError(f"{option} {path}: {' '.join(first)} already writes to {where}")
        seen[real] = (option, path)
        if real in history:
            raise ConfigError(f"{option} {path}: is a file of the run history {state}; "
                              "writing it would destroy the history; choose another file")
        # the name the next run's folder walk finds, and the file it leads to
        named = os.path.join(os.path.realpath(os.path.dirname(os.path.abspath(path))),
                             os.path.basename(path))
        inside = next((folder for place in (named, real) for folder in folders
                       if is_record_name(os.path.basename(place)) and place.startswith(folder)),
                      None) if path != "-" else None
        if inside is not None:
            shown = inside.rstrip(os.sep) or os.sep
            raise ConfigError(f"{option} {path}: is inside an input folder ({shown}), so a "
                              "run over that folder would read it as a record; write it "
                              "elsewhere")


def _is_record(path: Path) -> bool:
    """Whether ``path`` is a regular file that starts with a front matter line (``---``)."""
    from enricher.frontmatter import opens_front_matter  # PyYAML: not at CLI start-up

    if not path.is_file():  # a FIFO or device is no record, and is never opened here
        return False
    try:
        with open(path, "rb") as fh:
            head = fh.read(256).decode("utf-8", "replace")
    except OSError:
        return False
    return opens_front_matter(head)


def check_out_folder(out: str, label: str = "--out") -> None:
    """ConfigError when ``--out`` (or a folder above it) exists but is not a folder, or the
    nearest one that exists is not writable: every copy would fail to be written, so say it
    once, before anything is read or fetched."""
    for path in (Path(out), *Path(out).parents):
        try:
            exists, folder = path.exists(), path.is_dir()
        except OSError as exc:  # Python 3.11: a name over 255 bytes raises, it is not "missing"
            raise ConfigError(f"{label} {out}: {_unusable(exc)}") from None
        if exists:
            if not folder:
                raise ConfigError(f"{label} {out}: {path} is not a folder; choose another "
                                  "output folder or use --in-place")
            if not os.access(path, os.W_OK | os.X_OK):  # found after every fetch, record by record
                raise ConfigError(f"{label} {out}: folder {path} is not writable; choose another "
                                  "output folder or use --in-place")
            return
