-- +goose Up
-- When the scheduler first saw each newsletter: a new list's first issue
-- is due at the first run after that, not at once.
CREATE TABLE newsletter_lists (
    list       TEXT    PRIMARY KEY,
    started_at INTEGER NOT NULL
);

-- Claims walk an issue's queued deliveries in subscriber order. The old
-- index on (status, next_attempt_at) led the planner to sort every queued
-- delivery on each claim, and cost a page write on every mark.
CREATE INDEX deliveries_claim ON deliveries (issue_id, status, subscriber_id);
DROP INDEX deliveries_due;

-- +goose Down
CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at);
DROP INDEX deliveries_claim;
DROP TABLE newsletter_lists;
