-- +goose Up
-- When the scheduler first saw each newsletter: a new list's first issue
-- is due at the first run after that, not at once.
CREATE TABLE newsletter_lists (
    list       TEXT    PRIMARY KEY,
    started_at INTEGER NOT NULL
);

-- Claims walk an issue's queued deliveries in subscriber order.
CREATE INDEX deliveries_claim ON deliveries (issue_id, status, subscriber_id);

-- +goose Down
DROP INDEX deliveries_claim;
DROP TABLE newsletter_lists;
