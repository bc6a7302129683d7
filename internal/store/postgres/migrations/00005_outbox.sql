-- +goose Up
-- The durable outbox: a message is recorded before it is sent and marked
-- after. claimed_until is a lease: a worker that dies mid-send leaves its
-- claim to run out, and another takes the message up.
CREATE TABLE outbox (
    id              BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    message_id      TEXT    NOT NULL UNIQUE,
    kind            TEXT    NOT NULL,
    subscriber_id   BIGINT  REFERENCES subscribers (id) ON DELETE CASCADE,
    recipient       TEXT    NOT NULL,
    payload         BYTEA   NOT NULL,
    status          TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL,
    claimed_until   BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    created_at      BIGINT  NOT NULL,
    done_at         BIGINT  NOT NULL DEFAULT 0
);
CREATE INDEX outbox_due ON outbox (status, next_attempt_at);
-- Erasing a subscriber deletes their mail through the foreign key.
CREATE INDEX outbox_subscriber ON outbox (subscriber_id);

-- +goose Down
DROP TABLE outbox;
