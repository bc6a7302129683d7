package sqlite

import (
	"context"
	"fmt"

	"github.com/bantin/bantin/internal/article"
)

// ArticleCategories returns the category slugs of each stored id, in the
// article's order; an id without categories or not stored is absent.
func (s *Store) ArticleCategories(ctx context.Context, ids []string) (map[string][]string, error) {
	out := map[string][]string{}
	for start := 0; start < len(ids); start += chunk {
		part := ids[start:min(start+chunk, len(ids))]
		rows, err := s.db.QueryContext(ctx, `SELECT article_id, category FROM article_categories
			WHERE article_id IN (`+placeholders(len(part))+`) ORDER BY article_id, position`, anys(part)...)
		if err != nil {
			return nil, fmt.Errorf("article categories: %w", err)
		}
		for rows.Next() {
			var id, slug string
			if err := rows.Scan(&id, &slug); err != nil {
				rows.Close()
				return nil, fmt.Errorf("article categories: %w", err)
			}
			out[id] = append(out[id], slug)
		}
		if err := rows.Close(); err != nil {
			return nil, fmt.Errorf("article categories: %w", err)
		}
		if err := rows.Err(); err != nil {
			return nil, fmt.Errorf("article categories: %w", err)
		}
	}
	return out, nil
}

// SetCategoryTitles stores the admin's titles of categories (the config's
// categories), over any title articles gave, creating the categories not
// stored yet. A category with an empty title is left alone. When a title
// changed, the feeds of every process are told, as for an article change.
func (s *Store) SetCategoryTitles(ctx context.Context, categories []article.Category) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("category titles: %w", err)
	}
	defer tx.Rollback()
	changed := false
	for _, c := range categories {
		if c.Slug == "" || c.Title == "" {
			continue
		}
		res, err := tx.ExecContext(ctx, `INSERT INTO categories (slug, title) VALUES (?, ?)
			ON CONFLICT (slug) DO UPDATE SET title = excluded.title WHERE categories.title <> excluded.title`, c.Slug, c.Title)
		if err != nil {
			return fmt.Errorf("category %q title: %w", c.Slug, err)
		}
		if n, err := res.RowsAffected(); err != nil {
			return fmt.Errorf("category %q title: %w", c.Slug, err)
		} else if n > 0 {
			changed = true
		}
	}
	if !changed {
		return nil
	}
	// The article counter is what other processes watch (see Changes).
	if _, err := tx.ExecContext(ctx, `UPDATE article_version SET version = version + 1`); err != nil {
		return fmt.Errorf("category titles: %w", err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("category titles: %w", err)
	}
	s.mu.Lock()
	for _, c := range categories {
		if c.Slug != "" && c.Title != "" && c.Title != c.Slug {
			s.categories[c.Slug] = true
		}
	}
	s.mu.Unlock()
	s.notify()
	return nil
}
