package postgres

import (
	"context"
	"fmt"

	"github.com/bantin/bantin/internal/article"
)

// ArticleCategories returns the category slugs of each stored id, in the
// article's order; an id without categories or not stored is absent.
func (s *Store) ArticleCategories(ctx context.Context, ids []string) (map[string][]string, error) {
	out := map[string][]string{}
	// By the primary key: a re-import of a folder of files looks up the
	// stored categories of every chunk's stored articles.
	err := s.byIndex(ctx, `SELECT article_id, category FROM article_categories
		WHERE article_id = ANY($1) ORDER BY article_id, position`, ids, func(id, slug string) { out[id] = append(out[id], slug) })
	if err != nil {
		return nil, fmt.Errorf("article categories: %w", err)
	}
	return out, nil
}

// SetCategoryTitles stores the admin's titles of categories (the config's
// categories), over any title articles gave, creating the categories not
// stored yet. A category with an empty title is left alone. When a title
// changed, the feeds of every process are told, as for an article change.
func (s *Store) SetCategoryTitles(ctx context.Context, categories []article.Category) error {
	var slugs, titles []string
	for _, c := range categories {
		if c.Slug != "" && c.Title != "" {
			slugs, titles = append(slugs, c.Slug), append(titles, c.Title)
		}
	}
	if len(slugs) == 0 {
		return nil
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("category titles: %w", err)
	}
	defer rollback(tx)
	// The article writers' lock: categories written by two at once cannot
	// deadlock (see SaveArticles).
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock(hashtext(current_schema() || ':articles'))`); err != nil {
		return fmt.Errorf("category titles: lock: %w", err)
	}
	tag, err := tx.Exec(ctx, `INSERT INTO categories (slug, title)
		SELECT DISTINCT ON (slug) slug, title FROM unnest($1::text[], $2::text[]) AS c (slug, title)
		ON CONFLICT (slug) DO UPDATE SET title = excluded.title WHERE categories.title <> excluded.title`, slugs, titles)
	if err != nil {
		return fmt.Errorf("category titles: %w", err)
	}
	if tag.RowsAffected() == 0 {
		return nil
	}
	// The article counter is what other processes watch (see Changes).
	if _, err := tx.Exec(ctx, `SELECT nextval('article_changes')`); err != nil {
		return fmt.Errorf("category titles: %w", err)
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("category titles: %w", err)
	}
	s.notify()
	return nil
}
