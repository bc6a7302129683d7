-- +goose Up
-- Secrets bantin makes for itself (the key of subscriber tokens), made once
-- and shared by every process on the store, so a link made by one works on
-- all.
CREATE TABLE secrets (
    name       TEXT   PRIMARY KEY,
    value      BYTEA  NOT NULL,
    created_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE secrets;
