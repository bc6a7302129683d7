-- +goose Up
-- An article's HTML (about 4 KB on a news site) was compressed with pglz
-- and, still over the 2 KB a row may keep, moved to the TOAST table: on an
-- import most of the server's time went there. lz4 compresses at a few
-- times the speed, and rows of up to 3,000 bytes after it stay in the
-- table, with no TOAST row and index entry of their own. Rows between 2 KB
-- and 3,000 bytes are kept uncompressed; longer HTML still goes to TOAST.
-- New values only: stored rows stay as they are until rewritten.
ALTER TABLE articles SET (toast_tuple_target = 3000);

-- lz4 needs PostgreSQL 14 built with it (Debian's, the official images);
-- elsewhere pglz stays.
-- +goose StatementBegin
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        EXECUTE 'ALTER TABLE articles ALTER COLUMN content_html SET COMPRESSION lz4, ALTER COLUMN summary SET COMPRESSION lz4';
    END IF;
EXCEPTION WHEN feature_not_supported THEN
    NULL;
END
$$;
-- +goose StatementEnd

-- +goose Down
ALTER TABLE articles RESET (toast_tuple_target);
-- +goose StatementBegin
DO $$
BEGIN
    IF current_setting('server_version_num')::int >= 140000 THEN
        EXECUTE 'ALTER TABLE articles ALTER COLUMN content_html SET COMPRESSION default, ALTER COLUMN summary SET COMPRESSION default';
    END IF;
END
$$;
-- +goose StatementEnd
