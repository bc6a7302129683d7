package postgres

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

const articleColumns = `a.id, a.guid, a.slug, a.title, a.url, a.author, a.summary, a.content_html,
	a.has_image, a.image_url, a.image_caption, a.image_type, a.image_length,
	a.published_at, a.updated_at, a.stored_at, a.input_hash, a.source_hash`

// upsertCategories stores categories by slug, one batch and one article
// alike. A stored title is kept, but one that is only the slug (all that
// was known, say from "categories": ["kinh-te"]) gives way to a real one
// given with a later article.
const upsertCategories = `INSERT INTO categories (slug, title)
	SELECT * FROM unnest($1::text[], $2::text[])
	ON CONFLICT (slug) DO UPDATE SET title = excluded.title
	WHERE categories.title = categories.slug AND excluded.title <> excluded.slug`

// ArticleHashes returns the stored input hash of each id that exists.
func (s *Store) ArticleHashes(ctx context.Context, ids []string) (map[string]string, error) {
	m, err := s.pairs(ctx, `SELECT id, input_hash FROM articles WHERE id = ANY($1)`, ids)
	if err != nil {
		return nil, fmt.Errorf("article hashes: %w", err)
	}
	return m, nil
}

// KnownSources maps source hashes to the ids of the articles read from them.
func (s *Store) KnownSources(ctx context.Context, sourceHashes []string) (map[string]string, error) {
	m, err := s.pairs(ctx, `SELECT source_hash, id FROM articles WHERE source_hash <> '' AND source_hash = ANY($1)`, sourceHashes)
	if err != nil {
		return nil, fmt.Errorf("known sources: %w", err)
	}
	return m, nil
}

// seqScanOff turns sequential scans off for the rest of the transaction (of
// the statement's implicit one outside a transaction). The import's
// lookups and SaveArticles' takenKeys find keys of a batch by = ANY of
// hundreds to thousands of values, and until articles is analyzed (a
// fresh database; autovacuum off, as on the bench server, or not yet
// round) the planner may read the whole table instead and compare every
// row with every value: on a first import of 100,000 articles, 31 such
// scans (ArticleHashes, takenKeys; 207,000 rows read) took 44% of the
// server's CPU (perf: ExecEvalScalarArrayOp).
const seqScanOff = `set_config('enable_seqscan', 'off', true)`

// pairs runs query with keys as its one array parameter and collects the
// two columns it selects as a map (see byIndex).
func (s *Store) pairs(ctx context.Context, query string, keys []string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	err := s.byIndex(ctx, query, keys, func(k, v string) { out[k] = v })
	return out, err
}

// byIndex runs query with keys as its one array parameter, looking the
// keys up by an index (seqScanOff, in the same round trip), and hands add
// the two text columns of each row in turn. An array is one parameter
// however many keys there are, so no chunking is needed.
func (s *Store) byIndex(ctx context.Context, query string, keys []string, add func(k, v string)) error {
	if len(keys) == 0 {
		return nil
	}
	var b pgx.Batch
	b.Queue(`SELECT ` + seqScanOff)
	b.Queue(query, keys)
	br := s.pool.SendBatch(ctx, &b)
	defer br.Close()
	if _, err := br.Exec(); err != nil {
		return err
	}
	rows, err := br.Query()
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var k, v string
		if err := rows.Scan(&k, &v); err != nil {
			return err
		}
		add(k, v)
	}
	return rows.Err()
}

// SaveArticles creates or updates articles in one transaction.
func (s *Store) SaveArticles(ctx context.Context, now time.Time, articles []article.Article) ([]store.Saved, error) {
	now = now.Truncate(time.Microsecond)
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return nil, fmt.Errorf("save articles: begin: %w", err)
	}
	defer rollback(tx)
	// Article writers of every process take turns: a slug made unique by
	// one cannot be taken by another's uncommitted insert, and categories
	// created by two at once cannot deadlock.
	// seqScanOff, for takenKeys, in the same round trip.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':articles')), `+seqScanOff); err != nil {
		return nil, fmt.Errorf("save articles: lock: %w", err)
	}

	taken, err := takenKeys(ctx, tx, articles)
	if err != nil {
		return nil, fmt.Errorf("save articles: %w", err)
	}
	saved := make([]store.Saved, 0, len(articles))
	changed := false
	// New articles whose id, slug and GUID are free go in together, a few
	// statements for the lot; the others are saved one by one, in order,
	// after those before them, so that slugs get the same suffixes.
	var run insertRun
	for _, a := range articles {
		if taken.free(a) {
			taken.add(a.ID, a.Slug, a.GUID)
			run.add(store.Fill(a, now))
			saved = append(saved, store.Saved{ID: a.ID, Slug: a.Slug, GUID: a.GUID, Outcome: store.Created})
			changed = true
			continue
		}
		if err := run.flush(ctx, tx); err != nil {
			return nil, fmt.Errorf("save articles: %w", err)
		}
		result, err := saveArticle(ctx, tx, now, a, taken.ids[a.ID])
		if err != nil {
			return nil, fmt.Errorf("save article %q: %w", a.ID, err)
		}
		taken.add(result.ID, result.Slug, result.GUID)
		changed = changed || result.Outcome != store.Unchanged
		saved = append(saved, result)
	}
	if err := run.flush(ctx, tx); err != nil {
		return nil, fmt.Errorf("save articles: %w", err)
	}
	if !changed {
		return saved, nil
	}
	if err := tx.Commit(ctx); err != nil {
		return nil, fmt.Errorf("save articles: commit: %w", err)
	}
	s.notify()
	return saved, nil
}

const insertArticle = `INSERT INTO articles (id, guid, slug, title, url, author, summary, content_html,
	has_image, image_url, image_caption, image_type, image_length,
	published_at, updated_at, stored_at, input_hash, source_hash)
	VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)`

// saveArticle saves one article. stored says its id is stored already,
// so that an insert could only conflict.
func saveArticle(ctx context.Context, tx pgx.Tx, now time.Time, a article.Article, stored bool) (store.Saved, error) {
	fresh := store.Fill(a, now)
	if !stored {
		// Try the insert first and look for the existing row only when
		// it conflicts.
		tag, err := tx.Exec(ctx, insertArticle+` ON CONFLICT DO NOTHING`, articleRow(fresh)...)
		if err != nil {
			return store.Saved{}, err
		}
		if tag.RowsAffected() == 1 {
			if err := addCategories(ctx, tx, fresh); err != nil {
				return store.Saved{}, err
			}
			return store.Saved{ID: a.ID, Slug: a.Slug, GUID: a.GUID, Outcome: store.Created}, nil
		}
	}

	var old article.Article
	var published, updated, storedAt int64
	// FOR UPDATE: two processes updating one article take turns, and the
	// second sees the first's hash.
	var was imageRow
	err := tx.QueryRow(ctx, `SELECT guid, slug, input_hash, published_at, updated_at, stored_at,
		title, url, author, summary, content_html, has_image, image_url, image_caption, image_type, image_length
		FROM articles WHERE id = $1 FOR UPDATE`, a.ID).
		Scan(&old.GUID, &old.Slug, &old.InputHash, &published, &updated, &storedAt,
			&old.Title, &old.URL, &old.Author, &old.Summary, &old.ContentHTML, &was.has, &was.url, &was.caption, &was.typ, &was.length)
	switch {
	case noRows(err):
		return create(ctx, tx, fresh) // the slug or the GUID is taken
	case err != nil:
		return store.Saved{}, err
	}
	if old.InputHash == a.InputHash {
		return store.Saved{ID: a.ID, Slug: old.Slug, GUID: old.GUID, Outcome: store.Unchanged}, nil
	}
	old.PublishedAt, old.UpdatedAt, old.StoredAt = fromMicro(published), fromMicro(updated), fromMicro(storedAt)
	if was.has {
		old.Image = &article.Image{URL: was.url, Caption: was.caption, Type: was.typ, Length: was.length}
	}
	// Other input that makes the same article (its JSON printed by
	// articles show and ingested back) changes nothing.
	if same, err := sameContent(ctx, tx, a.ID, old, a); err != nil {
		return store.Saved{}, err
	} else if same {
		return store.Saved{ID: a.ID, Slug: old.Slug, GUID: old.GUID, Outcome: store.Unchanged}, nil
	}
	a = store.Merge(old, a, now)
	img := imageColumns(a.Image)
	if _, err := tx.Exec(ctx, `UPDATE articles SET title = $1, url = $2, author = $3, summary = $4, content_html = $5,
		has_image = $6, image_url = $7, image_caption = $8, image_type = $9, image_length = $10,
		published_at = $11, updated_at = $12, input_hash = $13, source_hash = $14 WHERE id = $15`,
		a.Title, a.URL, a.Author, a.Summary, a.ContentHTML,
		img.has, img.url, img.caption, img.typ, img.length,
		micro(a.PublishedAt), micro(a.UpdatedAt), a.InputHash, a.SourceHash, a.ID); err != nil {
		return store.Saved{}, err
	}
	if _, err := tx.Exec(ctx, `DELETE FROM article_categories WHERE article_id = $1`, a.ID); err != nil {
		return store.Saved{}, err
	}
	if err := addCategories(ctx, tx, a); err != nil {
		return store.Saved{}, err
	}
	return store.Saved{ID: a.ID, Slug: a.Slug, GUID: a.GUID, Outcome: store.Updated}, nil
}

// sameContent reports store.SameContent of the stored old, read with its
// categories, and next.
func sameContent(ctx context.Context, tx pgx.Tx, id string, old, next article.Article) (bool, error) {
	// The categories are read only when all the rest is the same.
	bare := next
	bare.Categories = nil
	if !store.SameContent(old, bare) {
		return false, nil
	}
	rows, err := tx.Query(ctx, `SELECT category FROM article_categories WHERE article_id = $1 ORDER BY position`, id)
	if err != nil {
		return false, err
	}
	defer rows.Close()
	for rows.Next() {
		var slug string
		if err := rows.Scan(&slug); err != nil {
			return false, err
		}
		old.Categories = append(old.Categories, article.Category{Slug: slug})
	}
	if err := rows.Err(); err != nil {
		return false, err
	}
	return store.SameContent(old, next), nil
}

// articleRow is the column values of insertArticle.
func articleRow(a article.Article) []any {
	img := imageColumns(a.Image)
	return []any{a.ID, a.GUID, a.Slug, a.Title, a.URL, a.Author, a.Summary, a.ContentHTML,
		img.has, img.url, img.caption, img.typ, img.length,
		micro(a.PublishedAt), micro(a.UpdatedAt), micro(a.StoredAt), a.InputHash, a.SourceHash}
}

// create inserts a new article whose proposed slug or GUID is taken.
func create(ctx context.Context, tx pgx.Tx, a article.Article) (store.Saved, error) {
	slug, err := uniqueSlug(ctx, tx, a.Slug)
	if err != nil {
		return store.Saved{}, err
	}
	a.Slug = slug
	if _, err := tx.Exec(ctx, insertArticle, articleRow(a)...); err != nil {
		if isCode(err, uniqueViolation) {
			return store.Saved{}, fmt.Errorf("guid %q is taken: %w", a.GUID, store.ErrConflict)
		}
		return store.Saved{}, err
	}
	if err := addCategories(ctx, tx, a); err != nil {
		return store.Saved{}, err
	}
	return store.Saved{ID: a.ID, Slug: a.Slug, GUID: a.GUID, Outcome: store.Created}, nil
}

// uniqueSlug returns slug, or slug-2, slug-3 … when it is taken.
func uniqueSlug(ctx context.Context, tx pgx.Tx, slug string) (string, error) {
	candidate := slug
	for n := 2; ; n++ {
		var taken bool
		if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM articles WHERE slug = $1)`, candidate).Scan(&taken); err != nil {
			return "", err
		}
		if !taken {
			return candidate, nil
		}
		candidate = slug + "-" + strconv.Itoa(n)
	}
}

// addCategories links an article to its categories, creating those not
// stored yet. The categories go in one statement each way, as arrays.
func addCategories(ctx context.Context, tx pgx.Tx, a article.Article) error {
	if len(a.Categories) == 0 {
		return nil
	}
	slugs := make([]string, len(a.Categories))
	titles := make([]string, len(a.Categories))
	for i, c := range a.Categories {
		slugs[i], titles[i] = c.Slug, c.Title
	}
	if _, err := tx.Exec(ctx, upsertCategories, slugs, titles); err != nil {
		return fmt.Errorf("categories: %w", err)
	}
	if _, err := tx.Exec(ctx, `INSERT INTO article_categories (article_id, category, position)
		SELECT $1, c.slug, c.position - 1 FROM unnest($2::text[]) WITH ORDINALITY AS c (slug, position)`, a.ID, slugs); err != nil {
		return fmt.Errorf("categories: %w", err)
	}
	return nil
}

type imageRow struct {
	has               bool
	url, caption, typ string
	length            int64
}

func imageColumns(img *article.Image) imageRow {
	if img == nil {
		return imageRow{}
	}
	return imageRow{has: true, url: img.URL, caption: img.Caption, typ: img.Type, length: img.Length}
}

// Article returns the article with the id.
func (s *Store) Article(ctx context.Context, id string) (article.Article, error) {
	return s.one(ctx, "a.id = $1", id)
}

// ArticleBySlug returns the article with the slug.
func (s *Store) ArticleBySlug(ctx context.Context, slug string) (article.Article, error) {
	return s.one(ctx, "a.slug = $1", slug)
}

func (s *Store) one(ctx context.Context, where string, arg string) (article.Article, error) {
	list, err := s.queryArticles(ctx, `SELECT `+articleColumns+` FROM articles a WHERE `+where, arg)
	if err != nil {
		return article.Article{}, fmt.Errorf("article %q: %w", arg, err)
	}
	if len(list) == 0 {
		return article.Article{}, fmt.Errorf("article %q: %w", arg, store.ErrNotFound)
	}
	return list[0], nil
}

// query builds a statement with numbered parameters.
type query struct {
	sb   strings.Builder
	args []any
}

// arg adds a parameter and returns its placeholder.
func (q *query) arg(v any) string {
	q.args = append(q.args, v)
	return "$" + strconv.Itoa(len(q.args))
}

// where writes the FROM and WHERE clauses of aq.
func (q *query) where(aq store.ArticleQuery) {
	q.sb.WriteString(` FROM articles a`)
	if aq.Category != "" {
		q.sb.WriteString(` JOIN article_categories ac ON ac.article_id = a.id AND ac.category = ` + q.arg(aq.Category))
	}
	if !aq.IncludeScheduled {
		q.sb.WriteString(` WHERE a.published_at <= ` + q.arg(micro(aq.Now)))
	}
}

// CountArticles counts the articles q selects.
func (s *Store) CountArticles(ctx context.Context, aq store.ArticleQuery) (int, error) {
	var q query
	q.sb.WriteString(`SELECT count(*)`)
	q.where(aq)
	var n int
	if err := s.pool.QueryRow(ctx, q.sb.String(), q.args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count articles: %w", err)
	}
	return n, nil
}

// NextScheduled returns the earliest publication time after now.
func (s *Store) NextScheduled(ctx context.Context, now time.Time) (time.Time, bool, error) {
	var next *int64
	if err := s.pool.QueryRow(ctx, `SELECT min(published_at) FROM articles WHERE published_at > $1`, micro(now)).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("next scheduled article: %w", err)
	}
	if next == nil {
		return time.Time{}, false, nil
	}
	return fromMicro(*next), true, nil
}

// Categories lists the categories with a published article.
func (s *Store) Categories(ctx context.Context, now time.Time) ([]article.Category, error) {
	rows, err := s.pool.Query(ctx, `SELECT c.slug, c.title FROM categories c
		WHERE EXISTS (SELECT 1 FROM article_categories ac JOIN articles a ON a.id = ac.article_id
			WHERE ac.category = c.slug AND a.published_at <= $1)
		ORDER BY c.slug`, micro(now))
	if err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	defer rows.Close()
	var list []article.Category
	for rows.Next() {
		var c article.Category
		if err := rows.Scan(&c.Slug, &c.Title); err != nil {
			return nil, fmt.Errorf("categories: %w", err)
		}
		list = append(list, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	return list, nil
}

// WindowArticles lists the articles of an issue's window.
func (s *Store) WindowArticles(ctx context.Context, wq store.WindowQuery) ([]article.Article, error) {
	var q query
	// An article is news from the later of its publication and its first
	// store: a back-dated page ingested today is news today. It must be
	// published by the window's end (scheduled ones wait).
	until := q.arg(micro(wq.Until))
	q.sb.WriteString(`SELECT ` + articleColumns + ` FROM articles a
		WHERE GREATEST(a.published_at, a.stored_at) > ` + q.arg(micro(wq.After)) + `
		AND GREATEST(a.published_at, a.stored_at) <= ` + until + `
		AND a.published_at <= ` + until + ` AND a.published_at >= ` + q.arg(micro(wq.PublishedSince)))
	if len(wq.Categories) > 0 {
		q.sb.WriteString(` AND EXISTS (SELECT 1 FROM article_categories ac WHERE ac.article_id = a.id AND ac.category = ANY(` + q.arg(wq.Categories) + `))`)
	}
	q.sb.WriteString(` ORDER BY a.published_at DESC, a.id DESC`)
	if wq.Limit > 0 {
		q.sb.WriteString(` LIMIT ` + q.arg(wq.Limit))
	}
	list, err := s.queryArticles(ctx, q.sb.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("window articles: %w", err)
	}
	return list, nil
}

// Articles lists articles, newest published first.
func (s *Store) Articles(ctx context.Context, aq store.ArticleQuery) ([]article.Article, error) {
	var q query
	q.sb.WriteString(`SELECT ` + articleColumns)
	q.where(aq)
	q.sb.WriteString(` ORDER BY a.published_at DESC, a.id DESC`)
	if aq.Limit > 0 {
		q.sb.WriteString(` LIMIT ` + q.arg(aq.Limit))
	}
	if aq.Offset > 0 {
		q.sb.WriteString(` OFFSET ` + q.arg(aq.Offset))
	}
	list, err := s.queryArticles(ctx, q.sb.String(), q.args...)
	if err != nil {
		return nil, fmt.Errorf("list articles: %w", err)
	}
	return list, nil
}

// queryArticles reads article rows, then the categories of all of them in
// one more query.
func (s *Store) queryArticles(ctx context.Context, sql string, args ...any) ([]article.Article, error) {
	rows, err := s.pool.Query(ctx, sql, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var list []article.Article
	index := map[string]int{}
	for rows.Next() {
		var a article.Article
		var img imageRow
		var published, updated, stored int64
		if err := rows.Scan(&a.ID, &a.GUID, &a.Slug, &a.Title, &a.URL, &a.Author, &a.Summary, &a.ContentHTML,
			&img.has, &img.url, &img.caption, &img.typ, &img.length,
			&published, &updated, &stored, &a.InputHash, &a.SourceHash); err != nil {
			return nil, err
		}
		if img.has {
			a.Image = &article.Image{URL: img.url, Caption: img.caption, Type: img.typ, Length: img.length}
		}
		a.PublishedAt, a.UpdatedAt, a.StoredAt = fromMicro(published), fromMicro(updated), fromMicro(stored)
		index[a.ID] = len(list)
		list = append(list, a)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	if len(list) == 0 {
		return nil, nil
	}
	ids := make([]string, len(list))
	for i, a := range list {
		ids[i] = a.ID
	}
	crows, err := s.pool.Query(ctx, `SELECT ac.article_id, c.slug, c.title FROM article_categories ac
		JOIN categories c ON c.slug = ac.category
		WHERE ac.article_id = ANY($1) ORDER BY ac.article_id, ac.position`, ids)
	if err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	defer crows.Close()
	for crows.Next() {
		var id string
		var c article.Category
		if err := crows.Scan(&id, &c.Slug, &c.Title); err != nil {
			return nil, fmt.Errorf("categories: %w", err)
		}
		i := index[id]
		list[i].Categories = append(list[i].Categories, c)
	}
	if err := crows.Err(); err != nil {
		return nil, fmt.Errorf("categories: %w", err)
	}
	return list, nil
}

// DeleteArticle removes an article and its category links.
func (s *Store) DeleteArticle(ctx context.Context, id string) error {
	tag, err := s.pool.Exec(ctx, `DELETE FROM articles WHERE id = $1`, id)
	if err != nil {
		return fmt.Errorf("delete article %q: %w", id, err)
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("delete article %q: %w", id, store.ErrNotFound)
	}
	s.notify()
	return nil
}
