-- +goose Up
-- What bantin remembers of each upstream feed between polls: where it is
-- now (a permanent redirect moves it), its validators for conditional
-- requests, and how the last poll went.
CREATE TABLE sources (
    name          TEXT COLLATE "C" PRIMARY KEY,
    url           TEXT    NOT NULL,           -- as configured
    fetch_url     TEXT    NOT NULL,           -- where it is fetched now
    etag          TEXT    NOT NULL DEFAULT '',
    last_modified TEXT    NOT NULL DEFAULT '',
    last_fetch    BIGINT  NOT NULL DEFAULT 0,
    last_status   INTEGER NOT NULL DEFAULT 0, -- HTTP status, 0 for none
    last_error    TEXT    NOT NULL DEFAULT '',
    failures      INTEGER NOT NULL DEFAULT 0, -- failed polls in a row
    next_poll     BIGINT  NOT NULL DEFAULT 0,
    entries       INTEGER NOT NULL DEFAULT 0  -- entries in the last feed read
);

-- +goose Down
DROP TABLE sources;
