-- +goose Up
-- The durable outbox: a message is recorded before it is sent and marked
-- after. claimed_until is a lease: a worker that dies mid-send leaves its
-- claim to run out, and another takes the message up.
CREATE TABLE outbox (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id      TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    subscriber_id   INTEGER REFERENCES subscribers (id) ON DELETE CASCADE,
    recipient       TEXT    NOT NULL,
    payload         BLOB    NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,
    claimed_until   INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      INTEGER NOT NULL,
    done_at         INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);

-- +goose Down
DROP TABLE outbox;
