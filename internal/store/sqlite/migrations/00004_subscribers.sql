-- +goose Up
-- Newsletter subscribers. email_key is the address in lower case:
-- addresses are compared without case, shown as given. AUTOINCREMENT: an id
-- is never given again, so a link token of an erased subscriber can never
-- act on someone new.
CREATE TABLE subscribers (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    email      TEXT    NOT NULL,
    email_key  TEXT    NOT NULL UNIQUE,
    name       TEXT    NOT NULL DEFAULT '',
    language   TEXT    NOT NULL DEFAULT '',
    bounces    INTEGER NOT NULL DEFAULT 0,
    bounced    INTEGER NOT NULL DEFAULT 0,
    created_at INTEGER NOT NULL
);

-- One row per (subscriber, list): the status of that subscription.
CREATE TABLE list_subscriptions (
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    list          TEXT    NOT NULL,
    status        TEXT    NOT NULL CHECK (status IN ('pending', 'confirmed', 'unsubscribed')),
    updated_at    INTEGER NOT NULL,
    PRIMARY KEY (subscriber_id, list)
);
CREATE INDEX list_subscriptions_list ON list_subscriptions (list, status);

-- A subscriber's category preferences; none means every category.
CREATE TABLE subscriber_categories (
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    category      TEXT    NOT NULL,
    PRIMARY KEY (subscriber_id, category)
);

-- +goose Down
DROP TABLE subscriber_categories;
DROP TABLE list_subscriptions;
DROP TABLE subscribers;
