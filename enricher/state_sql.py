"""The SQL text of the run history (``enricher.state``): schema, temporary tables and the
set-based statements that update 100,000 URLs in one pass.

Text only: this module must not open databases or run anything.
"""

from enricher.config import FLAP_CHANGES, FLAP_HISTORY

ISO = "%Y-%m-%dT%H:%M:%SZ"  # every stored time
HISTORY_LENGTH = FLAP_HISTORY  # checks kept per URL for the flapping rule

SCHEMA = """
CREATE TABLE urls (
    url TEXT PRIMARY KEY, kind TEXT NOT NULL,
    first_seen TEXT NOT NULL, last_checked TEXT NOT NULL,
    status TEXT NOT NULL, reason TEXT NOT NULL, http_status INTEGER,
    final_url TEXT, content_type TEXT,
    since TEXT NOT NULL,        -- first check of the current status streak
    streak INTEGER NOT NULL,    -- consecutive checks with this status
    failures INTEGER NOT NULL,  -- consecutive bad checks
    first_failure TEXT,         -- first check of the current bad streak
    last_ok TEXT,               -- last good check
    etag TEXT, last_modified TEXT,
    history TEXT NOT NULL,      -- the last checks, oldest first: g good, b bad
    profile TEXT                -- the settings that decided it (``nightly.verdict_profile``)
) WITHOUT ROWID;
CREATE TABLE meta (             -- of the last check; rewritten only when its hash changes
    url TEXT PRIMARY KEY, hash TEXT, json TEXT  -- JSON: page, image, redirects
);
CREATE TABLE runs (
    id INTEGER PRIMARY KEY, command TEXT NOT NULL,
    started_at TEXT NOT NULL, finished_at TEXT,
    state TEXT NOT NULL,        -- running, finished, interrupted, aborted
    options TEXT NOT NULL,      -- JSON
    counts TEXT,                -- JSON {status: n}
    aborted TEXT, changes TEXT  -- reason; JSON of the Changes
);
CREATE TABLE journal (          -- what unfinished runs finished, for resume
    url TEXT PRIMARY KEY, at TEXT NOT NULL, kind TEXT NOT NULL, status TEXT NOT NULL,
    reason TEXT NOT NULL, http_status INTEGER, final_url TEXT, content_type TEXT,
    last_checked TEXT NOT NULL, meta TEXT, profile TEXT,
    etag TEXT, last_modified TEXT  -- the validators the check left (a resumed one keeps them)
) WITHOUT ROWID;
"""
# from schema N to N + 1. 2: a result is reused only by a run with the settings that decided
# it (a row from before has none: it is checked again once); 3: the journal keeps validators
MIGRATE = {
    1: """ALTER TABLE urls ADD COLUMN profile TEXT;
        ALTER TABLE journal ADD COLUMN profile TEXT;""",
    2: """ALTER TABLE journal ADD COLUMN etag TEXT;
        ALTER TABLE journal ADD COLUMN last_modified TEXT;""",
}
TEMP = """
CREATE TEMP TABLE IF NOT EXISTS obs (
    url TEXT PRIMARY KEY, kind TEXT, status TEXT, reason TEXT, http_status INTEGER,
    final_url TEXT, content_type TEXT, checked_at TEXT, reused INTEGER, good INTEGER,
    etag_given INTEGER, etag TEXT, last_modified TEXT, new INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;  -- in URL order, so joins with urls walk both tables in step
CREATE TEMP TABLE IF NOT EXISTS wanted (url TEXT PRIMARY KEY);
CREATE TEMP TABLE IF NOT EXISTS earlier (url TEXT PRIMARY KEY, status TEXT, at TEXT) WITHOUT ROWID;
"""
# failures that interrupted runs journaled (their records may carry them) and this run checks
# again: a streak that goes on started there, so every record shows one since ({bad}: BAD)
EARLIER = ("DELETE FROM earlier", """INSERT INTO earlier SELECT url, status, last_checked
    FROM journal WHERE status IN ({bad}) AND at >= ? AND at <= ?""")
# (no UPDATE ... FROM: that needs SQLite 3.33; Python may be linked to an older one)
_EARLIER_AT = "SELECT e.at FROM earlier e WHERE e.url = urls.url AND e.status = urls.status"
EARLIER_SINCE = f"""UPDATE urls SET since = ({_EARLIER_AT}),
    first_failure = min(coalesce(first_failure, ({_EARLIER_AT})), ({_EARLIER_AT}))
    WHERE url IN (SELECT url FROM earlier) AND url IN (SELECT url FROM obs WHERE new)
    AND ({_EARLIER_AT}) < since AND ({_EARLIER_AT}) > coalesce(last_ok, '')"""
# (never before the last good check: a journal dated by a clock set back would start the
# streak before it, and confirm early)

# a URL's own clock never runs back: a check dated before the URL's last one (a clock set
# back: NTP, a VM restore; or the last check was dated ahead) counts as made at that last
# check, and since one of the two clocks was wrong, the streak restarts, untrusted: it grows
# again only with checks dated after that last check, and a dead streak's since moves to the
# first of them (only dead is confirmed: a good status keeps its since). So a clock set back
# and then forward never stretches hours of checks into days, and neither does a run dated
# ahead, once a run with a right clock followed it: confirmation comes late, never early
_AT = "max(excluded.last_checked, last_checked)"
_BACK = "excluded.last_checked < last_checked"
# a check whose time cannot be trusted (dated before the URL's last check, or a new URL's
# before a kept run began: the clock was set back) never starts a streak's span: it gets
# streak 0, and the streak starts at the next check dated forward (late, never early).
# ?: this run's id (the previous runs are the others)
_TRUSTED = "checked_at >= coalesce((SELECT max(started_at) FROM runs WHERE id != ?), '')"
_UNTRUSTED = "(streak = 0 AND (excluded.streak = 0 OR excluded.last_checked <= last_checked))"
UPSERT = f"""
INSERT INTO urls (url, kind, first_seen, last_checked, status, reason, http_status, final_url,
    content_type, since, streak, failures, first_failure, last_ok, etag, last_modified, history)
SELECT url, kind, checked_at, checked_at, status, reason, http_status, final_url, content_type,
    checked_at, {_TRUSTED}, 1 - good, CASE WHEN good THEN NULL ELSE checked_at END,
    CASE WHEN good THEN checked_at END, etag, last_modified, CASE WHEN good THEN 'g' ELSE 'b' END
FROM obs WHERE new
ON CONFLICT (url) DO UPDATE SET
    kind = excluded.kind, last_checked = {_AT}, status = excluded.status,
    reason = excluded.reason, http_status = excluded.http_status,
    final_url = excluded.final_url, content_type = excluded.content_type,
    since = CASE WHEN status != excluded.status THEN {_AT}
        WHEN streak = 0 AND NOT {_UNTRUSTED} AND status = 'dead' THEN excluded.last_checked
        ELSE since END,
    streak = CASE WHEN status != excluded.status
        THEN excluded.streak AND excluded.last_checked >= last_checked
        WHEN {_BACK} OR {_UNTRUSTED} THEN 0 ELSE streak + 1 END,
    failures = CASE WHEN excluded.failures THEN failures + 1 ELSE 0 END,
    first_failure = CASE WHEN excluded.failures THEN coalesce(first_failure, {_AT}) END,
    last_ok = CASE WHEN excluded.last_ok IS NULL THEN last_ok ELSE {_AT} END,
    etag = excluded.etag, last_modified = excluded.last_modified,
    history = substr(history || excluded.history, -{HISTORY_LENGTH})
"""
META = """INSERT INTO meta (url, json, hash) VALUES (?, ?, ?) ON CONFLICT (url) DO UPDATE
    SET hash = excluded.hash, json = excluded.json WHERE hash IS NOT excluded.hash"""
# good<->bad changes among the kept checks: 'gb' and 'bg' pairs cannot overlap themselves
FLAPPING = (
    "SELECT u.url FROM obs o JOIN urls u ON u.url = o.url WHERE o.new AND "
    "(length(u.history) - length(replace(u.history, 'gb', ''))) / 2 + "
    f"(length(u.history) - length(replace(u.history, 'bg', ''))) / 2 >= {FLAP_CHANGES} "
    "ORDER BY u.url"
)
# validators only when a 304 has something to reuse: a page's metadata, an image's facts (a
# URL first checked for reachability and now cited as a page must be fetched in full); and
# only the URL's own: a 304 to its first hop says nothing of a page a redirect reached
_CONDITIONAL = """SELECT url, etag, last_modified, kind FROM {rows} JOIN meta USING (url)
    WHERE {where} status = 'ok' AND final_url IS NULL AND
    (etag IS NOT NULL OR last_modified IS NOT NULL) AND
    json_extract(json, CASE kind WHEN 'page' THEN '$.page' WHEN 'image' THEN '$.image' END)
    IS NOT NULL"""
CONDITIONAL = _CONDITIONAL.format(rows="urls", where="url = ? AND")
# a batch of URLs (the temporary table ``wanted``) looks its rows up: CROSS JOIN keeps that
# order (SQLite would otherwise scan every stored URL once per batch: quadratic)
WANTED_URLS = "wanted CROSS JOIN urls USING (url)"
CONDITIONAL_WANTED = _CONDITIONAL.format(rows=WANTED_URLS, where="")
# a urls row's confirmed-dead flag (?: runs, and seconds: confirm_days less the slack of
# ``state.confirm_seconds``, the rule's one definition); {t}: the table's alias and a dot
_CONFIRMED = """{t}status = 'dead' AND {t}streak >= ? AND
    strftime('%s', {t}last_checked) - strftime('%s', {t}since) >= ?"""
CONFIRMED = _CONFIRMED.format(t="")  # for ``enricher report``: as the run that stored it
# this run's dead URLs with since and whether they are confirmed (?: runs, seconds)
ANNOTATE = f"""SELECT o.url, min(u.since, o.checked_at), {_CONFIRMED.format(t="u.")}
    FROM obs o JOIN urls u ON u.url = o.url WHERE u.status = o.status"""
# forgetting (?: the oldest last check kept; then this run's id and the runs kept)
PRUNE_META = "DELETE FROM meta WHERE url IN (SELECT url FROM urls WHERE last_checked < ?)"
PRUNE_URLS = "DELETE FROM urls WHERE last_checked < ?"
PRUNE_RUNS = "DELETE FROM runs WHERE id <= ? - ?"
PRUNE_CHANGES = "UPDATE runs SET changes = NULL WHERE id <= ? - ? AND changes IS NOT NULL"
# for ``enricher report``: good URLs the history keeps; bad ones only if checked since ?
LATEST_WHERE = "WHERE status IN ('ok', 'redirected') OR last_checked >= ? ORDER BY url"
OBS = f"""INSERT OR REPLACE INTO obs VALUES (?, ?, ?, ?, ?, ?, ?,
    coalesce(strftime('{ISO}', ?), ?), ?, ?, ?, ?, ?, 1)"""
# a reused result is no check, unless it is newer than the row (a resumed one)
OBS_NOT_NEW = """UPDATE obs SET new = 0 WHERE reused AND EXISTS (SELECT 1 FROM urls u
    WHERE u.url = obs.url AND u.last_checked >= obs.checked_at)"""
# a result not fetched keeps the stored validators; a resumed one (reused and new) those the
# journal kept (given), else none: the stored ones may belong to the metadata it replaces
OBS_VALIDATORS = """UPDATE obs SET (etag, last_modified) = (SELECT etag, last_modified
    FROM urls u WHERE u.url = obs.url) WHERE NOT etag_given AND NOT (reused AND new)"""
# the checks that may be news, against the rows before the update ({bad}: the bad statuses)
CHANGES = """SELECT o.url, o.status, o.good, u.status, u.since, o.status = 'redirected' AND
    (u.status IS NULL OR u.status != 'redirected' OR u.final_url IS NOT o.final_url)
    FROM obs o LEFT JOIN urls u ON u.url = o.url WHERE o.new AND
    (o.status IN ('dead', 'redirected') OR (o.good AND u.status IN ({bad}))) ORDER BY o.url"""
END_RUN = """UPDATE runs SET finished_at = ?, state = ?, counts = ?, aborted = ?, changes = ?
    WHERE id = ?"""
START_RUN = "INSERT INTO runs (command, started_at, state, options) VALUES (?, ?, 'running', ?)"
RUNS = """SELECT id, command, started_at, finished_at, state, options, counts, aborted
    FROM runs ORDER BY id DESC LIMIT ?"""
LAST_FINISHED = "SELECT {} FROM runs WHERE state = 'finished' ORDER BY id DESC LIMIT 1"
# stored results: a URL's row as ``state_rows.from_row`` reads it
ROW = "url, kind, status, reason, http_status, final_url, content_type, last_checked"
STORED = f"SELECT {ROW}, json, since FROM urls LEFT JOIN meta USING (url)"
LATEST = f"SELECT {ROW}, json, since, {CONFIRMED} FROM urls LEFT JOIN meta USING (url)"
# good results checked after ? and not after ? (now: a time after it is a clock set back),
# with the settings of this run (?: their profile)
FRESH = f"""SELECT {ROW}, json, since FROM {WANTED_URLS} LEFT JOIN meta USING (url)
    WHERE last_checked > ? AND last_checked <= ? AND status IN ('ok', 'redirected')
    AND profile IS ?"""
# this run's checks were decided by its settings (?: their profile)
PROFILE = "UPDATE urls SET profile = ? WHERE url IN (SELECT url FROM obs WHERE new)"
# the journal: entries dated before the resume window or after now go; the good ones resume
OLD_JOURNAL = "DELETE FROM journal WHERE at < ? OR at > ?"
JOURNAL = "INSERT OR REPLACE INTO journal VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
RESUMABLE = f"""SELECT {ROW}, meta, etag, last_modified FROM journal WHERE at >= ? AND at <= ?
    AND status IN ('ok', 'redirected') AND (? OR profile IS ?)"""
