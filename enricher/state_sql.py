"""The SQL text of the run history (``enricher.state``): schema, temporary tables and the
set-based statements that update 100,000 URLs in one pass.

Text only: this module must not open databases or run anything.
"""

HISTORY_LENGTH = 6  # checks kept per URL for the flapping rule
FLAP_CHANGES = 3  # good<->bad changes among them that make a URL "flapping"

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
    history TEXT NOT NULL       -- the last checks, oldest first: g good, b bad
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
    last_checked TEXT NOT NULL, meta TEXT
) WITHOUT ROWID;
"""
TEMP = """
CREATE TEMP TABLE IF NOT EXISTS obs (
    url TEXT PRIMARY KEY, kind TEXT, status TEXT, reason TEXT, http_status INTEGER,
    final_url TEXT, content_type TEXT, checked_at TEXT, reused INTEGER, good INTEGER,
    etag_given INTEGER, etag TEXT, last_modified TEXT, new INTEGER NOT NULL DEFAULT 1
) WITHOUT ROWID;  -- in URL order, so joins with urls walk both tables in step
CREATE TEMP TABLE IF NOT EXISTS wanted (url TEXT PRIMARY KEY);
"""
UPSERT = f"""
INSERT INTO urls (url, kind, first_seen, last_checked, status, reason, http_status, final_url,
    content_type, since, streak, failures, first_failure, last_ok, etag, last_modified, history)
SELECT url, kind, checked_at, checked_at, status, reason, http_status, final_url, content_type,
    checked_at, 1, 1 - good, CASE WHEN good THEN NULL ELSE checked_at END,
    CASE WHEN good THEN checked_at END, etag, last_modified, CASE WHEN good THEN 'g' ELSE 'b' END
FROM obs WHERE new
ON CONFLICT (url) DO UPDATE SET
    kind = excluded.kind, last_checked = excluded.last_checked, status = excluded.status,
    reason = excluded.reason, http_status = excluded.http_status,
    final_url = excluded.final_url, content_type = excluded.content_type,
    since = CASE WHEN status = excluded.status THEN since ELSE excluded.since END,
    streak = CASE WHEN status = excluded.status THEN streak + 1 ELSE 1 END,
    failures = CASE WHEN excluded.failures THEN failures + 1 ELSE 0 END,
    first_failure = CASE WHEN excluded.failures
        THEN coalesce(first_failure, excluded.first_failure) END,
    last_ok = coalesce(excluded.last_ok, last_ok),
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
