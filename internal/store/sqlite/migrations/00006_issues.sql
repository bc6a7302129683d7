-- +goose Up
-- Newsletter issues, stored as rendered (the archive shows them as sent).
-- One issue per list and window end: two ticks of one schedule can never
-- make two issues.
CREATE TABLE issues (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    list         TEXT    NOT NULL,
    number       INTEGER NOT NULL,
    window_start INTEGER NOT NULL,
    window_end   INTEGER NOT NULL,
    subject      TEXT    NOT NULL,
    html         TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    articles     TEXT    NOT NULL DEFAULT '', -- article ids, newline-separated, in order
    status       TEXT    NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'sent', 'cancelled')),
    created_at   INTEGER NOT NULL,
    UNIQUE (list, window_end),
    UNIQUE (list, number)
);

-- One delivery per confirmed subscriber, written with the issue. Claimed
-- with a lease like the outbox; marked before and after each send.
CREATE TABLE deliveries (
    issue_id        INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    subscriber_id   INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL DEFAULT 0,
    claimed_until   INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    done_at         INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (issue_id, subscriber_id)
);
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);

-- +goose Down
DROP TABLE deliveries;
DROP TABLE issues;
