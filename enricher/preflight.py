"""Checks before a run, on settings already parsed: can the network settings and output
files be used, and which options will have no effect. Each failure is one ``ConfigError``
line naming the option and the fix (exit status 2), raised before anything is read, fetched
or written.

This module must not fetch (it loads a CA file at most), read records or print.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path

from enricher.config import Config
from enricher.settings import ConfigError, Settings, flag_name


def without_history(config: Config, write: bool) -> tuple[str, ...]:
    """One line per option that needs the run history, in a run that keeps none
    (``--no-state``): not an error (a one-off ``--no-state`` run need not edit the config
    file), but said. ``write``: the run writes records (``--prune-dead`` matters)."""
    if config.state_file:
        return ()
    needs = [("max_age", config.max_age is not None, "no result is reused"),
             ("prune_dead", write and config.prune_dead,
              "nothing is ever confirmed dead, so nothing moves")]
    return tuple(f"{flag_name(key)} has no effect without a history (--no-state): {effect}"
                 for key, on, effect in needs if on)


def warnings(settings: Settings, write: bool, environ: Mapping[str, str] | None, *,
             flag: bool) -> tuple[str, ...]:
    """The run's warning lines (not errors): options without effect, a policy switched off."""
    environ = os.environ if environ is None else environ
    return (*without_history(settings.config, write),
            *_policy_off(settings.config, flag, settings.source, environ))


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


def check_network(config: Config, environ: Mapping[str, str] | None = None) -> None:
    """ConfigError unless the proxy and CA settings (``proxy``, ``ca_bundle``, ``HTTP_PROXY``
    and friends, ``SSL_CERT_FILE``/``SSL_CERT_DIR``) can be used: one line before anything is
    read or fetched, not a traceback mid-run. Loads the CA file; connects nowhere."""
    from enricher.net.client import ProxyRoutes, ssl_context

    environ = os.environ if environ is None else environ
    try:
        ProxyRoutes.build(config.fetch.proxy, environ)
        ssl_context(config.fetch.ca_bundle, environ)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def check_outputs(outputs: Sequence[tuple[str, str]]) -> None:
    """ConfigError unless every output file ``(option, path)`` can be written: its folder
    exists, is a folder and is writable (``-`` is stdout), and it is no record (a report
    written over ``keep.md`` would replace the record). Called before anything is fetched
    or written, so a typo in ``--results`` does not surface after the run. At most one
    output may be stdout: two would interleave into something no reader can parse."""
    to_stdout = [option for option, path in outputs if path == "-"]
    if len(to_stdout) > 1:
        raise ConfigError(f"{to_stdout[1]} -: {to_stdout[0]} already writes to stdout; "
                          "write one of them to a file")
    for option, path in outputs:
        if path == "-":
            continue
        target = Path(path)
        folder = target.parent
        if target.is_dir():
            problem = "is a folder; give a file name"
        elif not folder.exists():
            problem = f"folder {folder} does not exist; create it or choose another path"
        elif not folder.is_dir():
            problem = f"{folder} is not a folder; choose another path"
        elif not os.access(folder, os.W_OK | os.X_OK):
            problem = f"folder {folder} is not writable; choose another path"
        elif target.exists() and not os.access(target, os.W_OK):
            problem = "is not writable; choose another path"
        elif _is_record(target):
            problem = "is a record (it starts with front matter); write to another file"
        else:
            continue
        raise ConfigError(f"{option} {path}: {problem}")


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


def check_out_folder(out: str) -> None:
    """ConfigError when ``--out`` (or a folder above it) exists but is not a folder: every
    copy would fail to be written, so say it once, before anything is read or fetched."""
    for path in (Path(out), *Path(out).parents):
        if path.exists():
            if not path.is_dir():
                raise ConfigError(f"--out {out}: {path} is not a folder; choose another --out "
                                  "folder or use --in-place")
            return
