-- +goose Up
-- Named leases: with several processes on one store, the holder of the
-- "scheduler" lease is the one that makes issues.
CREATE TABLE leases (
    name   TEXT   PRIMARY KEY,
    holder TEXT   NOT NULL,
    until  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE leases;
