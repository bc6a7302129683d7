-- +goose Up
-- One row per bounce, complaint or automatic reply about a subscriber,
-- whatever way it came in. event_id makes the same notice imported twice
-- one row (NULL: no id, never a duplicate). Erasing the subscriber
-- erases their records.
CREATE TABLE bounces (
    id            BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    subscriber_id BIGINT  NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    issue_id      BIGINT  NOT NULL DEFAULT 0,
    list          TEXT    NOT NULL DEFAULT '',
    source        TEXT    NOT NULL,
    kind          TEXT    NOT NULL,
    status        TEXT    NOT NULL DEFAULT '',
    reason        TEXT    NOT NULL DEFAULT '',
    event_id      TEXT    UNIQUE,
    outcome       TEXT    NOT NULL DEFAULT '',
    at            BIGINT  NOT NULL
);
CREATE INDEX bounces_subscriber ON bounces (subscriber_id, kind, at);
CREATE INDEX bounces_at ON bounces (at);

-- +goose Down
DROP TABLE bounces;
