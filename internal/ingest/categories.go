package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"slices"

	"github.com/bantin/bantin/internal/article"
)

// A file only ever adds categories to an article. bantin ingest and the
// watch folder read an article's categories as those of its file, then
// those the article has in the store already, then the one --category
// names: a file ingested again without --category keeps the category an
// earlier --category gave (and is unchanged), and --category adds to what
// the file says. Taking a category away is the API's: its POST is the
// whole article, categories included. Upstream feed entries are the whole
// entry too (their source's category added), so they replace.

// mergeCategories completes the inputs of a chunk's file records with the
// --category and the stored categories, and sets their hashes to match:
// an input whose file and categories are as stored keeps the stored hash
// and is skipped as unchanged. stored maps ids to their stored hash.
func (im *Importer) mergeCategories(ctx context.Context, c *chunk, inputs []article.Input, hashes []string, stored map[string]string) error {
	var existing []string
	for i, r := range c.records {
		if r.keepCategories && hashes[i] != "" && c.results[i].Err == nil {
			if _, ok := stored[c.results[i].ID]; ok {
				existing = append(existing, c.results[i].ID)
			}
		}
	}
	storedCats := map[string][]string{}
	if len(existing) > 0 {
		var err error
		if storedCats, err = im.store.ArticleCategories(ctx, existing); err != nil {
			return fmt.Errorf("import: %w", err)
		}
	}
	c.storedCats = storedCats
	// The records of a chunk mostly name the same few categories: each
	// name is read once (at most the chunk's categories are held).
	slugs := map[string]string{}
	slugOf := func(name string) string {
		slug, ok := slugs[name]
		if !ok {
			slug = im.slugOf(name)
			slugs[name] = slug
		}
		return slug
	}
	for i, r := range c.records {
		if r.keepCategories && hashes[i] != "" && c.results[i].Err == nil {
			inputs[i], hashes[i] = im.withFileCategories(inputs[i], hashes[i], r.category, storedCats[c.results[i].ID], slugOf)
		}
	}
	return nil
}

// slugOf reads a category name's slug as Normalize does.
func (im *Importer) slugOf(name string) string { return im.normalizer.CategoryOf(name).Slug }

// withFileCategories returns in with the stored slugs and category added
// after its own categories, and the hash to store it under: its own hash
// (as the API would compute it) when nothing was added, else one of its
// own hash and the slugs of all its categories, in any order. slugOf
// reads a name's slug.
func (im *Importer) withFileCategories(in article.Input, hash, category string, stored []string, slugOf func(string) string) (article.Input, string) {
	if category == "" && len(stored) == 0 {
		return in, hash // a new article from a file alone: nothing to add
	}
	own := map[string]bool{}
	for _, name := range in.Categories {
		if slug := slugOf(name); slug != "" {
			own[slug] = true
		}
	}
	all := maps.Clone(own)
	names := slices.Clip(in.Categories)
	for _, name := range append(slices.Clip(stored), category) {
		slug := slugOf(name)
		if slug == "" || all[slug] {
			continue
		}
		all[slug] = true
		names = append(names, name)
	}
	if len(all) == len(own) {
		return in, hash
	}
	in.Categories = names
	slugs := make([]string, 0, len(all))
	for slug := range all {
		slugs = append(slugs, slug)
	}
	slices.Sort(slugs)
	h := sha256.New()
	h.Write([]byte(hash))
	for _, s := range slugs {
		h.Write([]byte{0})
		h.Write([]byte(s))
	}
	return in, hex.EncodeToString(h.Sum(nil))
}
