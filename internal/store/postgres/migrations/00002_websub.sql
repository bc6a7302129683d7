-- +goose Up
-- WebSub subscriptions of the built-in hub (W3C WebSub §5): one row per
-- verified (topic, callback), kept until its lease ends or it is
-- unsubscribed.
CREATE TABLE websub_subscriptions (
    topic      TEXT COLLATE "C" NOT NULL,
    callback   TEXT COLLATE "C" NOT NULL,
    secret     TEXT   NOT NULL DEFAULT '',
    expires_at BIGINT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (topic, callback)
);
CREATE INDEX websub_subscriptions_expires ON websub_subscriptions (expires_at);

-- +goose Down
DROP TABLE websub_subscriptions;
