package main

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/text/unicode/norm"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/config"
	"github.com/bantin/bantin/internal/store"
)

// storeCategoryTitles writes the config's category titles into the store,
// over any title an article gave: the admin's word is what the pages, the
// feeds and the API show, and a category stored so far under its slug
// alone gets its title. serve does it at start and at each reload, and
// bantin ingest before it imports.
func storeCategoryTitles(ctx context.Context, st store.Store, cfg *config.Config) error {
	cats := configCategories(cfg)
	if len(cats) == 0 {
		return nil
	}
	if err := st.SetCategoryTitles(ctx, cats); err != nil {
		return fmt.Errorf("categories' titles from the config: %w", err)
	}
	return nil
}

// configCategories are the config's categories that have a title. The
// normalizer reads an article's category named by one's slug or title as
// that one; the store keeps their titles.
func configCategories(cfg *config.Config) []article.Category {
	var cats []article.Category
	for _, c := range cfg.Categories {
		// NFC, as every stored text is: a title typed on a Mac is NFD.
		if title := norm.NFC.String(strings.TrimSpace(c.Title)); title != "" {
			cats = append(cats, article.Category{Slug: c.Slug, Title: title})
		}
	}
	return cats
}
