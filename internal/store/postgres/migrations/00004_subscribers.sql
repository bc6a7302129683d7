-- +goose Up
-- Newsletter subscribers. email_key is the address in lower case (made by
-- the store, as in SQLite, so both backends agree on what "the same
-- address" is): addresses are compared without case, shown as given. An
-- identity column never gives an id again, so a link token of an erased
-- subscriber can never act on someone new.
CREATE TABLE subscribers (
    id         BIGINT  GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    email      TEXT    NOT NULL,
    email_key  TEXT COLLATE "C" NOT NULL UNIQUE,
    name       TEXT    NOT NULL DEFAULT '',
    language   TEXT    NOT NULL DEFAULT '',
    bounces    INTEGER NOT NULL DEFAULT 0,
    bounced    BOOLEAN NOT NULL DEFAULT FALSE,
    created_at BIGINT  NOT NULL
);

-- One row per (subscriber, list): the status of that subscription.
CREATE TABLE list_subscriptions (
    subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    list          TEXT   NOT NULL,
    status        TEXT   NOT NULL CHECK (status IN ('pending', 'confirmed', 'unsubscribed')),
    updated_at    BIGINT NOT NULL,
    PRIMARY KEY (subscriber_id, list)
);
CREATE INDEX list_subscriptions_list ON list_subscriptions (list, status);

-- A subscriber's category preferences; none means every category.
CREATE TABLE subscriber_categories (
    subscriber_id BIGINT NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    category      TEXT COLLATE "C" NOT NULL,
    PRIMARY KEY (subscriber_id, category)
);

-- +goose Down
DROP TABLE subscriber_categories;
DROP TABLE list_subscriptions;
DROP TABLE subscribers;
