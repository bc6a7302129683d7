-- +goose Up
-- A counter that moves with every change to the articles, so that other
-- processes (and the change poller) can tell an article change from any
-- other write: leases, claims and source states are written every second
-- and must not empty the feed caches.
CREATE TABLE article_version (
    id      INTEGER PRIMARY KEY CHECK (id = 1),
    version INTEGER NOT NULL
);
INSERT INTO article_version (id, version) VALUES (1, 0);

-- +goose StatementBegin
CREATE TRIGGER article_version_insert AFTER INSERT ON articles BEGIN
    UPDATE article_version SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER article_version_update AFTER UPDATE ON articles BEGIN
    UPDATE article_version SET version = version + 1;
END;
-- +goose StatementEnd
-- +goose StatementBegin
CREATE TRIGGER article_version_delete AFTER DELETE ON articles BEGIN
    UPDATE article_version SET version = version + 1;
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER article_version_delete;
DROP TRIGGER article_version_update;
DROP TRIGGER article_version_insert;
DROP TABLE article_version;
