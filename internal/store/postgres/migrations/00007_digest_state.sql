-- +goose Up
-- When the scheduler first saw each newsletter: a new list's first issue
-- is due at the first run after that, not at once.
CREATE TABLE newsletter_lists (
    list       TEXT   PRIMARY KEY,
    started_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE newsletter_lists;
