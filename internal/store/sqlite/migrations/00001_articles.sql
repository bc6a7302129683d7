-- +goose Up
-- Times are Unix microseconds (UTC): exact, sortable, and the precision
-- PostgreSQL keeps too, so both backends store the same instants.
CREATE TABLE articles (
    id            TEXT    PRIMARY KEY,
    guid          TEXT    NOT NULL UNIQUE,
    slug          TEXT    NOT NULL UNIQUE,
    title         TEXT    NOT NULL,
    url           TEXT    NOT NULL DEFAULT '',
    author        TEXT    NOT NULL DEFAULT '',
    summary       TEXT    NOT NULL DEFAULT '',
    content_html  TEXT    NOT NULL DEFAULT '',
    has_image     INTEGER NOT NULL DEFAULT 0,
    image_url     TEXT    NOT NULL DEFAULT '',
    image_caption TEXT    NOT NULL DEFAULT '',
    image_type    TEXT    NOT NULL DEFAULT '',
    image_length  INTEGER NOT NULL DEFAULT 0,
    published_at  INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL,
    stored_at     INTEGER NOT NULL,
    input_hash    TEXT    NOT NULL,
    -- source_hash names the exact bytes the article was last read from, so
    -- that a re-import of the same file skips it without decoding it.
    source_hash   TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX articles_published ON articles (published_at DESC, id DESC);
CREATE INDEX articles_source_hash ON articles (source_hash) WHERE source_hash <> '';

CREATE TABLE categories (
    slug  TEXT PRIMARY KEY,
    title TEXT NOT NULL
);

CREATE TABLE article_categories (
    article_id TEXT    NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    category   TEXT    NOT NULL REFERENCES categories (slug),
    position   INTEGER NOT NULL,
    PRIMARY KEY (article_id, category)
);
CREATE INDEX article_categories_category ON article_categories (category, article_id);

-- +goose Down
DROP TABLE article_categories;
DROP TABLE categories;
DROP TABLE articles;
