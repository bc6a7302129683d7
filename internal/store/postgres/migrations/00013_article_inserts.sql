-- +goose Up
-- An import inserts thousands of articles in one COPY, and the row trigger
-- ran article_changed() (PL/pgSQL: nextval and pg_notify) for each of
-- them, 7% of the server's CPU in a first import. Inserts now count once
-- a statement: a batch is one change to the feeds, as one NOTIFY at commit
-- always was. A statement that inserts nothing counts too (an insert that
-- met a conflict, always followed in its transaction by the insert under
-- another slug, which counts anyway). Updates and deletes, a row or a few
-- at a time, keep the row trigger, so that a delete of a missing article
-- signals nothing.
DROP TRIGGER articles_changed ON articles;
CREATE TRIGGER articles_changed AFTER UPDATE OR DELETE ON articles
    FOR EACH ROW EXECUTE FUNCTION article_changed();
CREATE TRIGGER articles_inserted AFTER INSERT ON articles
    FOR EACH STATEMENT EXECUTE FUNCTION article_changed();

-- The GUID, slug and source hash are compared byte by byte, as the id
-- always was (COLLATE "C"), instead of by the database's collation, which
-- copied both strings and called strcoll for every comparison of an index
-- insert or look-up. Nothing is listed in their order; equality is the
-- same in any deterministic collation. Their indexes are rebuilt.
ALTER TABLE articles
    ALTER COLUMN guid TYPE TEXT COLLATE "C",
    ALTER COLUMN slug TYPE TEXT COLLATE "C",
    ALTER COLUMN source_hash TYPE TEXT COLLATE "C";

-- +goose Down
ALTER TABLE articles
    ALTER COLUMN guid TYPE TEXT COLLATE "default",
    ALTER COLUMN slug TYPE TEXT COLLATE "default",
    ALTER COLUMN source_hash TYPE TEXT COLLATE "default";
DROP TRIGGER articles_inserted ON articles;
DROP TRIGGER articles_changed ON articles;
CREATE TRIGGER articles_changed AFTER INSERT OR UPDATE OR DELETE ON articles
    FOR EACH ROW EXECUTE FUNCTION article_changed();
