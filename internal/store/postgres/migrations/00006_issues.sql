-- +goose Up
-- Newsletter issues, stored as rendered (the archive shows them as sent).
-- One issue per list and window end: two ticks of one schedule can never
-- make two issues.
CREATE TABLE issues (
    id           BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    list         TEXT    NOT NULL,
    number       INTEGER NOT NULL,
    window_start BIGINT  NOT NULL,
    window_end   BIGINT  NOT NULL,
    subject      TEXT    NOT NULL,
    html         TEXT    NOT NULL,
    text         TEXT    NOT NULL,
    articles     TEXT[]  NOT NULL DEFAULT '{}', -- article ids, in order
    status       TEXT    NOT NULL DEFAULT 'sending' CHECK (status IN ('sending', 'sent', 'cancelled')),
    created_at   BIGINT  NOT NULL,
    UNIQUE (list, window_end),
    UNIQUE (list, number)
);
CREATE INDEX issues_sending ON issues (id) WHERE status = 'sending';

-- One delivery per confirmed subscriber, written with the issue. Claimed
-- with a lease like the outbox; marked before and after each send. Claims
-- walk an issue's queued deliveries in subscriber order (deliveries_claim).
CREATE TABLE deliveries (
    issue_id        BIGINT  NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    subscriber_id   BIGINT  NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    status          TEXT    NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed', 'skipped')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT  NOT NULL DEFAULT 0,
    claimed_until   BIGINT  NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    done_at         BIGINT  NOT NULL DEFAULT 0,
    PRIMARY KEY (issue_id, subscriber_id)
);
CREATE INDEX deliveries_claim ON deliveries (issue_id, status, subscriber_id);
-- Erasing a subscriber deletes their deliveries through the foreign key.
CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id);

-- +goose Down
DROP TABLE deliveries;
DROP TABLE issues;
