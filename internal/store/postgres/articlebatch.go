package postgres

import (
	"context"
	"fmt"

	"github.com/jackc/pgx/v5"

	"github.com/bantin/bantin/internal/article"
)

// keys holds the ids, slugs and GUIDs of a batch that are stored already,
// and those the batch has taken so far.
type keys struct {
	ids, slugs, guids map[string]bool
}

// takenKeys reads which ids, slugs and GUIDs of articles are stored, in one
// query. The caller holds the articles lock, so no other writer can take
// one before the batch is saved.
func takenKeys(ctx context.Context, tx pgx.Tx, articles []article.Article) (keys, error) {
	k := keys{ids: map[string]bool{}, slugs: map[string]bool{}, guids: map[string]bool{}}
	ids := make([]string, len(articles))
	slugs := make([]string, len(articles))
	guids := make([]string, len(articles))
	for i, a := range articles {
		ids[i], slugs[i], guids[i] = a.ID, a.Slug, a.GUID
	}
	rows, err := tx.Query(ctx, `SELECT id, slug, guid FROM articles
		WHERE id = ANY($1) OR slug = ANY($2) OR guid = ANY($3)`, ids, slugs, guids)
	if err != nil {
		return keys{}, fmt.Errorf("taken keys: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var id, slug, guid string
		if err := rows.Scan(&id, &slug, &guid); err != nil {
			return keys{}, fmt.Errorf("taken keys: %w", err)
		}
		k.add(id, slug, guid)
	}
	if err := rows.Err(); err != nil {
		return keys{}, fmt.Errorf("taken keys: %w", err)
	}
	return k, nil
}

// free reports whether a can be inserted as it is: its id, slug and GUID
// are neither stored nor taken by an earlier article of the batch.
func (k keys) free(a article.Article) bool {
	return !k.ids[a.ID] && !k.slugs[a.Slug] && !k.guids[a.GUID]
}

func (k keys) add(id, slug, guid string) {
	k.ids[id], k.slugs[slug], k.guids[guid] = true, true, true
}

// insertRun gathers new articles, filled and with free keys, and inserts
// them with their categories in two round trips: the articles by COPY,
// then one statement for the categories and one for the links, each
// taking its rows as arrays.
type insertRun struct {
	articles []article.Article
}

func (r *insertRun) add(a article.Article) {
	r.articles = append(r.articles, a)
}

// articleColumnNames are the columns of insertArticle, in its order.
var articleColumnNames = []string{"id", "guid", "slug", "title", "url", "author", "summary", "content_html",
	"has_image", "image_url", "image_caption", "image_type", "image_length",
	"published_at", "updated_at", "stored_at", "input_hash", "source_hash"}

// copyRows hands articles to CopyFrom one row at a time.
type copyRows struct {
	articles []article.Article
	next     int
}

func (c *copyRows) Next() bool {
	c.next++
	return c.next <= len(c.articles)
}

func (c *copyRows) Values() ([]any, error) { return articleRow(c.articles[c.next-1]), nil }

func (c *copyRows) Err() error { return nil }

// flush inserts the articles gathered and empties the run. COPY costs the
// server a fraction of an INSERT of the same rows from arrays (no arrays
// to take apart, no function scan to hold them, rows written to the table
// a page at a time). The keys were looked up under the articles lock, so
// no row of the run can conflict: were one to, COPY fails and the
// transaction with it, as the INSERT did.
func (r *insertRun) flush(ctx context.Context, tx pgx.Tx) error {
	if len(r.articles) == 0 {
		return nil
	}
	n := len(r.articles)
	var (
		linkIDs, linkSlugs []string
		linkPositions      []int32
		catSlugs           []string
		catTitle           = map[string]string{}
	)
	for _, a := range r.articles {
		for p, c := range a.Categories {
			linkIDs, linkSlugs, linkPositions = append(linkIDs, a.ID), append(linkSlugs, c.Slug), append(linkPositions, int32(p))
			// As the articles one by one would leave it: the first title,
			// unless it is only the slug and a later one is more.
			title, seen := catTitle[c.Slug]
			switch {
			case !seen:
				catSlugs = append(catSlugs, c.Slug)
				catTitle[c.Slug] = c.Title
			case title == c.Slug && c.Title != c.Slug:
				catTitle[c.Slug] = c.Title
			}
		}
	}
	catTitles := make([]string, len(catSlugs))
	for i, slug := range catSlugs {
		catTitles[i] = catTitle[slug]
	}

	copied, err := tx.CopyFrom(ctx, pgx.Identifier{"articles"}, articleColumnNames, &copyRows{articles: r.articles})
	if err != nil {
		return fmt.Errorf("insert %d articles: %w", n, err)
	}
	if copied != int64(n) {
		return fmt.Errorf("insert %d articles: %d inserted", n, copied)
	}
	if len(catSlugs) > 0 {
		var b pgx.Batch
		// Each slug once: one statement cannot change a row twice.
		b.Queue(upsertCategories, catSlugs, catTitles)
		b.Queue(`INSERT INTO article_categories (article_id, category, position)
			SELECT * FROM unnest($1::text[], $2::text[], $3::integer[])`, linkIDs, linkSlugs, linkPositions)
		if err := tx.SendBatch(ctx, &b).Close(); err != nil {
			return fmt.Errorf("insert %d articles: categories: %w", n, err)
		}
	}
	r.articles = r.articles[:0]
	return nil
}
