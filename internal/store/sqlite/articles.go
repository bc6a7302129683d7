package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// chunk bounds the number of parameters in one IN (...) list.
const chunk = 500

const articleColumns = `a.id, a.guid, a.slug, a.title, a.url, a.author, a.summary, a.content_html,
	a.has_image, a.image_url, a.image_caption, a.image_type, a.image_length,
	a.published_at, a.updated_at, a.stored_at, a.input_hash, a.source_hash`

// ArticleHashes returns the stored input hash of each id that exists.
func (s *Store) ArticleHashes(ctx context.Context, ids []string) (map[string]string, error) {
	m, err := s.pairs(ctx, `SELECT id, input_hash FROM articles WHERE id IN `, ids)
	if err != nil {
		return nil, fmt.Errorf("article hashes: %w", err)
	}
	return m, nil
}

// KnownSources maps source hashes to the ids of the articles read from them.
func (s *Store) KnownSources(ctx context.Context, sourceHashes []string) (map[string]string, error) {
	m, err := s.pairs(ctx, `SELECT source_hash, id FROM articles WHERE source_hash <> '' AND source_hash IN `, sourceHashes)
	if err != nil {
		return nil, fmt.Errorf("known sources: %w", err)
	}
	return m, nil
}

// pairs runs query (ending in "IN ") over keys in chunks and collects the
// two columns it selects as a map. It runs on the lookups connection, so
// that it does not wait for a save in progress (see Open).
func (s *Store) pairs(ctx context.Context, query string, keys []string) (map[string]string, error) {
	out := make(map[string]string, len(keys))
	for start := 0; start < len(keys); start += chunk {
		part := keys[start:min(start+chunk, len(keys))]
		rows, err := s.lookups.QueryContext(ctx, query+`(`+placeholders(len(part))+`)`, anys(part)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				rows.Close()
				return nil, err
			}
			out[k] = v
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
		if err := rows.Err(); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// SaveArticles creates or updates articles in one transaction.
func (s *Store) SaveArticles(ctx context.Context, now time.Time, articles []article.Article) ([]store.Saved, error) {
	now = now.Truncate(time.Microsecond)
	tx, err := s.articles.BeginTx(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("save articles: begin: %w", err)
	}
	defer tx.Rollback()

	w, err := prepareWriter(ctx, tx)
	if err != nil {
		return nil, fmt.Errorf("save articles: %w", err)
	}
	defer w.close()
	w.categoryStored = s.categoryStored
	w.batchCategories = map[string]bool{}

	saved := make([]store.Saved, 0, len(articles))
	changed := false
	// The statements run without ctx's cancellation: the driver watches
	// a cancellable context of each statement with a goroutine of its own
	// and a progress handler, 4% of the writer's CPU in an import, for
	// statements of a single row. The loop looks at ctx before each
	// article instead, and the transaction, begun with ctx, is rolled
	// back when it is cancelled.
	stmtCtx := context.WithoutCancel(ctx)
	for _, a := range articles {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("save articles: %w", err)
		}
		result, err := w.save(stmtCtx, now, a)
		if err != nil {
			return nil, fmt.Errorf("save article %q: %w", a.ID, err)
		}
		changed = changed || result.Outcome != store.Unchanged
		saved = append(saved, result)
	}
	if !changed {
		return saved, nil
	}
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("save articles: commit: %w", err)
	}
	s.rememberCategories(w.batchCategories)
	s.ckpt.saved(len(saved))
	s.notify()
	return saved, nil
}

// writer holds the statements one batch of saves uses, prepared once.
type writer struct {
	existing, categorySlugs, slugTaken, insert, insertNew, update, category, deleteCategories, addCategory *sql.Stmt
	// categoryStored reports a category row committed before this batch
	// with a title better than its slug; batchCategories holds those this
	// batch wrote.
	categoryStored  func(slug string) bool
	batchCategories map[string]bool
}

// knownCategory reports a category stored with a title of its own, which a
// save need not write again.
func (w *writer) knownCategory(c article.Category) bool {
	return w.batchCategories[c.Slug] || w.categoryStored(c.Slug)
}

// prepareWriter prepares the batch's statements. The writes to articles
// are OR FAIL: a constraint failure (none is expected: keys are looked up
// first, inserts of new articles are ON CONFLICT DO NOTHING) stops the
// statement without undoing what it wrote, which is safe because every
// error of a save rolls the whole transaction back. It spares SQLite a
// statement journal: with ABORT, each insert, which writes 7 pages through
// the article_version trigger, first copied them aside (11% of an
// import's CPU).
func prepareWriter(ctx context.Context, tx *sql.Tx) (*writer, error) {
	w := &writer{}
	for _, p := range []struct {
		stmt **sql.Stmt
		sql  string
	}{
		{&w.existing, `SELECT guid, slug, input_hash, published_at, updated_at, stored_at,
			title, url, author, summary, content_html, has_image, image_url, image_caption, image_type, image_length
			FROM articles WHERE id = ?`},
		{&w.categorySlugs, `SELECT category FROM article_categories WHERE article_id = ? ORDER BY position`},
		{&w.slugTaken, `SELECT EXISTS (SELECT 1 FROM articles WHERE slug = ?)`},
		{&w.insert, `INSERT OR FAIL INTO articles (id, guid, slug, title, url, author, summary, content_html,
			has_image, image_url, image_caption, image_type, image_length,
			published_at, updated_at, stored_at, input_hash, source_hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`},
		{&w.insertNew, `INSERT OR FAIL INTO articles (id, guid, slug, title, url, author, summary, content_html,
			has_image, image_url, image_caption, image_type, image_length,
			published_at, updated_at, stored_at, input_hash, source_hash)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`},
		{&w.update, `UPDATE OR FAIL articles SET title = ?, url = ?, author = ?, summary = ?, content_html = ?,
			has_image = ?, image_url = ?, image_caption = ?, image_type = ?, image_length = ?,
			published_at = ?, updated_at = ?, input_hash = ?, source_hash = ? WHERE id = ?`},
		// A stored title is kept, but one that is only the slug (all that
		// was known, say from "categories": ["kinh-te"]) gives way to a
		// real one given with a later article.
		{&w.category, `INSERT INTO categories (slug, title) VALUES (?, ?)
			ON CONFLICT (slug) DO UPDATE SET title = excluded.title
			WHERE categories.title = categories.slug AND excluded.title <> excluded.slug`},
		{&w.deleteCategories, `DELETE FROM article_categories WHERE article_id = ?`},
		{&w.addCategory, `INSERT INTO article_categories (article_id, category, position) VALUES (?, ?, ?)`},
	} {
		stmt, err := tx.PrepareContext(ctx, p.sql)
		if err != nil {
			w.close()
			return nil, fmt.Errorf("prepare: %w", err)
		}
		*p.stmt = stmt
	}
	return w, nil
}

func (w *writer) close() {
	for _, s := range []*sql.Stmt{w.existing, w.categorySlugs, w.slugTaken, w.insert, w.insertNew, w.update, w.category, w.deleteCategories, w.addCategory} {
		if s != nil {
			s.Close()
		}
	}
}

func (w *writer) save(ctx context.Context, now time.Time, a article.Article) (store.Saved, error) {
	// Most saves in a bulk import are new articles: try the insert first and
	// look for the existing row only when it conflicts.
	fresh := store.Fill(a, now)
	res, err := w.insertNew.ExecContext(ctx, articleRow(fresh)...)
	if err != nil {
		return store.Saved{}, err
	}
	if n, err := res.RowsAffected(); err != nil {
		return store.Saved{}, err
	} else if n == 1 {
		if err := w.addCategories(ctx, fresh); err != nil {
			return store.Saved{}, err
		}
		return store.Saved{ID: a.ID, Slug: a.Slug, GUID: a.GUID, Outcome: store.Created}, nil
	}

	var old article.Article
	var published, updated, stored int64
	var was imageRow
	err = w.existing.QueryRowContext(ctx, a.ID).Scan(&old.GUID, &old.Slug, &old.InputHash, &published, &updated, &stored,
		&old.Title, &old.URL, &old.Author, &old.Summary, &old.ContentHTML, &was.has, &was.url, &was.caption, &was.typ, &was.length)
	switch {
	case err == sql.ErrNoRows:
		return w.create(ctx, fresh) // the slug or the GUID is taken
	case err != nil:
		return store.Saved{}, err
	}
	if old.InputHash == a.InputHash {
		return store.Saved{ID: a.ID, Slug: old.Slug, GUID: old.GUID, Outcome: store.Unchanged}, nil
	}
	old.PublishedAt, old.UpdatedAt, old.StoredAt = fromMicro(published), fromMicro(updated), fromMicro(stored)
	old.ID = a.ID
	if was.has {
		old.Image = &article.Image{URL: was.url, Caption: was.caption, Type: was.typ, Length: was.length}
	}
	// Other input that makes the same article (its JSON printed by
	// articles show and ingested back) changes nothing.
	if same, err := w.sameContent(ctx, old, a); err != nil {
		return store.Saved{}, err
	} else if same {
		return store.Saved{ID: a.ID, Slug: old.Slug, GUID: old.GUID, Outcome: store.Unchanged}, nil
	}
	a = store.Merge(old, a, now)
	img := imageColumns(a.Image)
	if _, err := w.update.ExecContext(ctx, a.Title, a.URL, a.Author, a.Summary, a.ContentHTML,
		img.has, img.url, img.caption, img.typ, img.length,
		micro(a.PublishedAt), micro(a.UpdatedAt), a.InputHash, a.SourceHash, a.ID); err != nil {
		return store.Saved{}, err
	}
	if _, err := w.deleteCategories.ExecContext(ctx, a.ID); err != nil {
		return store.Saved{}, err
	}
	if err := w.addCategories(ctx, a); err != nil {
		return store.Saved{}, err
	}
	return store.Saved{ID: a.ID, Slug: a.Slug, GUID: a.GUID, Outcome: store.Updated}, nil
}

// sameContent reports store.SameContent of the stored old, read with its
// categories, and next.
func (w *writer) sameContent(ctx context.Context, old, next article.Article) (bool, error) {
	// The categories are read only when all the rest is the same.
	bare := next
	bare.Categories = nil
	if !store.SameContent(old, bare) {
		return false, nil
	}
	rows, err := w.categorySlugs.QueryContext(ctx, old.ID)
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

// articleRow is the column values of the insert statements.
func articleRow(a article.Article) []any {
	img := imageColumns(a.Image)
	return []any{a.ID, a.GUID, a.Slug, a.Title, a.URL, a.Author, a.Summary, a.ContentHTML,
		img.has, img.url, img.caption, img.typ, img.length,
		micro(a.PublishedAt), micro(a.UpdatedAt), micro(a.StoredAt), a.InputHash, a.SourceHash}
}

// create inserts a new article whose proposed slug or GUID is taken.
func (w *writer) create(ctx context.Context, a article.Article) (store.Saved, error) {
	slug, err := w.uniqueSlug(ctx, a.Slug)
	if err != nil {
		return store.Saved{}, err
	}
	a.Slug = slug
	if _, err := w.insert.ExecContext(ctx, articleRow(a)...); err != nil {
		if isUnique(err) {
			return store.Saved{}, fmt.Errorf("guid %q is taken: %w", a.GUID, store.ErrConflict)
		}
		return store.Saved{}, err
	}
	if err := w.addCategories(ctx, a); err != nil {
		return store.Saved{}, err
	}
	return store.Saved{ID: a.ID, Slug: a.Slug, GUID: a.GUID, Outcome: store.Created}, nil
}

// categoryStored reports a category known to be committed with a title
// of its own. Categories are never deleted and such a title never goes
// back to the slug, so a slug once seen stays true.
func (s *Store) categoryStored(slug string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.categories[slug]
}

func (s *Store) rememberCategories(slugs map[string]bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for slug := range slugs {
		s.categories[slug] = true
	}
}

// uniqueSlug returns slug, or slug-2, slug-3 … when it is taken.
func (w *writer) uniqueSlug(ctx context.Context, slug string) (string, error) {
	candidate := slug
	for n := 2; ; n++ {
		var taken bool
		if err := w.slugTaken.QueryRowContext(ctx, candidate).Scan(&taken); err != nil {
			return "", err
		}
		if !taken {
			return candidate, nil
		}
		candidate = slug + "-" + strconv.Itoa(n)
	}
}

func (w *writer) addCategories(ctx context.Context, a article.Article) error {
	for i, c := range a.Categories {
		if !w.knownCategory(c) {
			if _, err := w.category.ExecContext(ctx, c.Slug, c.Title); err != nil {
				return err
			}
			// A title that is only the slug may still be bettered by a
			// later article of the batch.
			if c.Title != c.Slug {
				w.batchCategories[c.Slug] = true
			}
		}
		if _, err := w.addCategory.ExecContext(ctx, a.ID, c.Slug, i); err != nil {
			return err
		}
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
	return s.one(ctx, "a.id = ?", id)
}

// ArticleBySlug returns the article with the slug.
func (s *Store) ArticleBySlug(ctx context.Context, slug string) (article.Article, error) {
	return s.one(ctx, "a.slug = ?", slug)
}

func (s *Store) one(ctx context.Context, where string, arg string) (article.Article, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+articleColumns+` FROM articles a WHERE `+where, arg)
	if err != nil {
		return article.Article{}, fmt.Errorf("article %q: %w", arg, err)
	}
	list, err := s.scanArticles(ctx, rows)
	if err != nil {
		return article.Article{}, fmt.Errorf("article %q: %w", arg, err)
	}
	if len(list) == 0 {
		return article.Article{}, fmt.Errorf("article %q: %w", arg, store.ErrNotFound)
	}
	return list[0], nil
}

// where writes the FROM and WHERE clauses of q.
func where(sb *strings.Builder, q store.ArticleQuery) []any {
	var args []any
	sb.WriteString(` FROM articles a`)
	if q.Category != "" {
		sb.WriteString(` JOIN article_categories ac ON ac.article_id = a.id AND ac.category = ?`)
		args = append(args, q.Category)
	}
	if !q.IncludeScheduled {
		sb.WriteString(` WHERE a.published_at <= ?`)
		args = append(args, micro(q.Now))
	}
	return args
}

// CountArticles counts the articles q selects.
func (s *Store) CountArticles(ctx context.Context, q store.ArticleQuery) (int, error) {
	var sb strings.Builder
	sb.WriteString(`SELECT count(*)`)
	args := where(&sb, q)
	var n int
	if err := s.db.QueryRowContext(ctx, sb.String(), args...).Scan(&n); err != nil {
		return 0, fmt.Errorf("count articles: %w", err)
	}
	return n, nil
}

// NextScheduled returns the earliest publication time after now.
func (s *Store) NextScheduled(ctx context.Context, now time.Time) (time.Time, bool, error) {
	var next sql.NullInt64
	if err := s.db.QueryRowContext(ctx, `SELECT min(published_at) FROM articles WHERE published_at > ?`, micro(now)).Scan(&next); err != nil {
		return time.Time{}, false, fmt.Errorf("next scheduled article: %w", err)
	}
	if !next.Valid {
		return time.Time{}, false, nil
	}
	return fromMicro(next.Int64), true, nil
}

// Categories lists the categories with a published article.
func (s *Store) Categories(ctx context.Context, now time.Time) ([]article.Category, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT c.slug, c.title FROM categories c
		WHERE EXISTS (SELECT 1 FROM article_categories ac JOIN articles a ON a.id = ac.article_id
			WHERE ac.category = c.slug AND a.published_at <= ?)
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
func (s *Store) WindowArticles(ctx context.Context, q store.WindowQuery) ([]article.Article, error) {
	var sb strings.Builder
	// An article is news from the later of its publication and its first
	// store: a back-dated page ingested today is news today. It must be
	// published by the window's end (scheduled ones wait).
	sb.WriteString(`SELECT ` + articleColumns + ` FROM articles a
		WHERE max(a.published_at, a.stored_at) > ? AND max(a.published_at, a.stored_at) <= ?
		AND a.published_at <= ? AND a.published_at >= ?`)
	args := []any{micro(q.After), micro(q.Until), micro(q.Until), micro(q.PublishedSince)}
	if len(q.Categories) > 0 {
		sb.WriteString(` AND EXISTS (SELECT 1 FROM article_categories ac WHERE ac.article_id = a.id AND ac.category IN (` + placeholders(len(q.Categories)) + `))`)
		args = append(args, anys(q.Categories)...)
	}
	sb.WriteString(` ORDER BY a.published_at DESC, a.id DESC`)
	if q.Limit > 0 {
		sb.WriteString(` LIMIT ?`)
		args = append(args, q.Limit)
	}
	rows, err := s.db.QueryContext(ctx, sb.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("window articles: %w", err)
	}
	list, err := s.scanArticles(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("window articles: %w", err)
	}
	return list, nil
}

// Articles lists articles, newest published first.
func (s *Store) Articles(ctx context.Context, q store.ArticleQuery) ([]article.Article, error) {
	var sb strings.Builder
	sb.WriteString(`SELECT ` + articleColumns)
	args := where(&sb, q)
	sb.WriteString(` ORDER BY a.published_at DESC, a.id DESC`)
	if q.Limit > 0 || q.Offset > 0 {
		limit := q.Limit
		if limit <= 0 {
			limit = -1
		}
		sb.WriteString(` LIMIT ? OFFSET ?`)
		args = append(args, limit, q.Offset)
	}
	rows, err := s.db.QueryContext(ctx, sb.String(), args...)
	if err != nil {
		return nil, fmt.Errorf("list articles: %w", err)
	}
	list, err := s.scanArticles(ctx, rows)
	if err != nil {
		return nil, fmt.Errorf("list articles: %w", err)
	}
	return list, nil
}

// scanArticles reads article rows, then their categories in a few queries.
func (s *Store) scanArticles(ctx context.Context, rows *sql.Rows) ([]article.Article, error) {
	var list []article.Article
	index := map[string]int{}
	for rows.Next() {
		var a article.Article
		var img imageRow
		var published, updated, stored int64
		if err := rows.Scan(&a.ID, &a.GUID, &a.Slug, &a.Title, &a.URL, &a.Author, &a.Summary, &a.ContentHTML,
			&img.has, &img.url, &img.caption, &img.typ, &img.length,
			&published, &updated, &stored, &a.InputHash, &a.SourceHash); err != nil {
			rows.Close()
			return nil, err
		}
		if img.has {
			a.Image = &article.Image{URL: img.url, Caption: img.caption, Type: img.typ, Length: img.length}
		}
		a.PublishedAt, a.UpdatedAt, a.StoredAt = fromMicro(published), fromMicro(updated), fromMicro(stored)
		index[a.ID] = len(list)
		list = append(list, a)
	}
	if err := rows.Close(); err != nil {
		return nil, err
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for start := 0; start < len(list); start += chunk {
		ids := make([]any, 0, chunk)
		for _, a := range list[start:min(start+chunk, len(list))] {
			ids = append(ids, a.ID)
		}
		crows, err := s.db.QueryContext(ctx, `SELECT ac.article_id, c.slug, c.title FROM article_categories ac
			JOIN categories c ON c.slug = ac.category
			WHERE ac.article_id IN (`+placeholders(len(ids))+`) ORDER BY ac.article_id, ac.position`, ids...)
		if err != nil {
			return nil, fmt.Errorf("categories: %w", err)
		}
		for crows.Next() {
			var id string
			var c article.Category
			if err := crows.Scan(&id, &c.Slug, &c.Title); err != nil {
				crows.Close()
				return nil, fmt.Errorf("categories: %w", err)
			}
			i := index[id]
			list[i].Categories = append(list[i].Categories, c)
		}
		if err := crows.Close(); err != nil {
			return nil, fmt.Errorf("categories: %w", err)
		}
	}
	return list, nil
}

// DeleteArticle removes an article and its category links.
func (s *Store) DeleteArticle(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM articles WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("delete article %q: %w", id, err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return fmt.Errorf("delete article %q: %w", id, err)
	}
	if n == 0 {
		return fmt.Errorf("delete article %q: %w", id, store.ErrNotFound)
	}
	s.notify()
	return nil
}

func placeholders(n int) string {
	if n == 0 {
		return "NULL"
	}
	return strings.Repeat("?,", n-1) + "?"
}

func anys(ss []string) []any {
	out := make([]any, len(ss))
	for i, s := range ss {
		out[i] = s
	}
	return out
}
