-- +goose Up
-- WebSub subscriptions of the built-in hub (W3C WebSub §5): one row per
-- verified (topic, callback), kept until its lease ends or it is
-- unsubscribed.
CREATE TABLE websub_subscriptions (
    topic      TEXT    NOT NULL,
    callback   TEXT    NOT NULL,
    secret     TEXT    NOT NULL DEFAULT '',
    expires_at INTEGER NOT NULL,
    created_at INTEGER NOT NULL,
    PRIMARY KEY (topic, callback)
);
CREATE INDEX websub_subscriptions_expires ON websub_subscriptions (expires_at);

-- +goose Down
DROP TABLE websub_subscriptions;
