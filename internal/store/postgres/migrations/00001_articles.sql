-- +goose Up
-- Times are Unix microseconds (UTC) in bigint, as in the SQLite store: exact,
-- sortable, and a zero claim or an unset poll time is a plain 0. Keys that
-- are listed in order use COLLATE "C" so that they sort byte by byte, as
-- SQLite does, whatever the database's locale.
CREATE TABLE articles (
    id            TEXT COLLATE "C" PRIMARY KEY,
    guid          TEXT    NOT NULL UNIQUE,
    slug          TEXT    NOT NULL UNIQUE,
    title         TEXT    NOT NULL,
    url           TEXT    NOT NULL DEFAULT '',
    author        TEXT    NOT NULL DEFAULT '',
    summary       TEXT    NOT NULL DEFAULT '',
    content_html  TEXT    NOT NULL DEFAULT '',
    has_image     BOOLEAN NOT NULL DEFAULT FALSE,
    image_url     TEXT    NOT NULL DEFAULT '',
    image_caption TEXT    NOT NULL DEFAULT '',
    image_type    TEXT    NOT NULL DEFAULT '',
    image_length  BIGINT  NOT NULL DEFAULT 0,
    published_at  BIGINT  NOT NULL,
    updated_at    BIGINT  NOT NULL,
    stored_at     BIGINT  NOT NULL,
    input_hash    TEXT    NOT NULL,
    -- source_hash names the exact bytes the article was last read from, so
    -- that a re-import of the same file skips it without decoding it.
    source_hash   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX articles_published ON articles (published_at DESC, id DESC);
CREATE INDEX articles_source_hash ON articles (source_hash) WHERE source_hash <> '';

CREATE TABLE categories (
    slug  TEXT COLLATE "C" PRIMARY KEY,
    title TEXT NOT NULL
);

CREATE TABLE article_categories (
    article_id TEXT COLLATE "C" NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    category   TEXT COLLATE "C" NOT NULL REFERENCES categories (slug),
    position   INTEGER NOT NULL,
    PRIMARY KEY (article_id, category)
);
CREATE INDEX article_categories_category ON article_categories (category, article_id);

-- Every change to articles, by any process, is announced on the channel
-- bantin_articles (the payload names the schema, so that stores sharing a
-- database tell their changes apart) and counted in a sequence, which a
-- store reads to catch what it missed while its listening connection was
-- down. NOTIFY is sent at commit, and once per transaction for equal
-- payloads; a sequence takes no row lock, so writers do not queue on it.
CREATE SEQUENCE article_changes;

-- +goose StatementBegin
CREATE FUNCTION article_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM nextval(quote_ident(TG_TABLE_SCHEMA) || '.article_changes');
    PERFORM pg_notify('bantin_articles', TG_TABLE_SCHEMA);
    RETURN NULL;
END
$$;
-- +goose StatementEnd

CREATE TRIGGER articles_changed AFTER INSERT OR UPDATE OR DELETE ON articles
    FOR EACH ROW EXECUTE FUNCTION article_changed();

-- +goose Down
DROP TRIGGER articles_changed ON articles;
DROP FUNCTION article_changed();
DROP SEQUENCE article_changes;
DROP TABLE article_categories;
DROP TABLE categories;
DROP TABLE articles;
