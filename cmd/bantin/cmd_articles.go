package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

func newArticlesCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "articles",
		Short: "List, show and delete stored articles",
		Example: `  bantin articles list --category thoi-su --limit 20
  bantin articles show cms-4521
  bantin articles delete cms-4521`,
		Args: cobra.ArbitraryArgs,
		RunE: needsSubcommand,
	}
	cmd.AddCommand(newArticlesListCmd(opts), newArticlesShowCmd(opts), newArticlesDeleteCmd(opts))
	return cmd
}

func newArticlesListCmd(opts *options) *cobra.Command {
	var category string
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--category SLUG] [--limit N]",
		Short: "List articles, newest first: id, date, slug, title",
		Long: `List articles, newest published first, one a line: id, publication date in
site.timezone, slug and title. Scheduled articles (dated in the future) are
listed too, marked "scheduled".`,
		Example: `  bantin articles list
  bantin articles list --category dan-van --limit 0`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return usageError{fmt.Errorf("--limit must be 0 (all) or more, got %d", limit)}
			}
			a, err := openAppReadOnly(cmd.Context(), opts)
			if err != nil {
				return err
			}
			defer a.close()
			// Read as an article's category is: "Kinh tế" is the
			// config's kt when the admin calls it so.
			n, err := a.normalizer()
			if err != nil {
				return err
			}
			list, err := a.store.Articles(cmd.Context(), store.ArticleQuery{
				Category: n.CategoryOf(category).Slug, Limit: limit, IncludeScheduled: true,
			})
			if err != nil {
				return err
			}
			now := a.now()
			tw := tabwriter.NewWriter(opts.stdout, 0, 4, 2, ' ', 0)
			for _, art := range list {
				mark := ""
				if art.ScheduledAt(now) {
					mark = "scheduled "
				}
				fmt.Fprintf(tw, "%s\t%s%s\t%s\t%s\n", art.ID, mark, art.PublishedAt.In(a.cfg.Location()).Format("2006-01-02 15:04"), art.Slug, art.Title)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&category, "category", "", "only this category (slug or title)")
	cmd.Flags().IntVar(&limit, "limit", 50, "at most this many; 0 for all")
	return cmd
}

func newArticlesShowCmd(opts *options) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "show ID",
		Short: "Show one article with its content",
		Long: `Show one article: its id, GUID, slug, dates in site.timezone, categories and
content. With --json, print it in the article JSON format that bantin ingest
and the admin API take, so that it can be edited and ingested back.`,
		Example: `  bantin articles show cms-4521
  bantin articles show --json cms-4521 | jq .title
  bantin articles show --json cms-4521 > bai.json && $EDITOR bai.json && bantin ingest bai.json`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			a, err := openAppReadOnly(cmd.Context(), opts)
			if err != nil {
				return err
			}
			defer a.close()
			art, err := a.store.Article(cmd.Context(), ids[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no article with id %q; bantin articles list shows the ids", ids[0])
			}
			if err != nil {
				return err
			}
			loc := a.cfg.Location()
			if asJSON {
				enc := json.NewEncoder(opts.stdout)
				enc.SetIndent("", "  ")
				// Non-ASCII stays as written and <p> as <p>: the file is
				// for an editor as much as for bantin ingest.
				enc.SetEscapeHTML(false)
				if err := enc.Encode(articleInput(art, loc)); err != nil {
					return fmt.Errorf("write article %s: %w", art.ID, err)
				}
				return nil
			}
			var cats []string
			for _, c := range art.Categories {
				cats = append(cats, c.Title+" ("+c.Slug+")")
			}
			w := opts.stdout
			fmt.Fprintf(w, "id:         %s\n", art.ID)
			fmt.Fprintf(w, "guid:       %s\n", art.GUID)
			fmt.Fprintf(w, "slug:       %s\n", art.Slug)
			fmt.Fprintf(w, "title:      %s\n", art.Title)
			if art.URL != "" {
				fmt.Fprintf(w, "url:        %s\n", art.URL)
			}
			if art.Author != "" {
				fmt.Fprintf(w, "author:     %s\n", art.Author)
			}
			if len(cats) > 0 {
				fmt.Fprintf(w, "categories: %s\n", strings.Join(cats, ", "))
			}
			status := "published"
			if art.ScheduledAt(a.now()) {
				status = "scheduled"
			}
			fmt.Fprintf(w, "status:     %s\n", status)
			fmt.Fprintf(w, "published:  %s\n", art.PublishedAt.In(loc).Format(time.RFC3339))
			fmt.Fprintf(w, "updated:    %s\n", art.UpdatedAt.In(loc).Format(time.RFC3339))
			fmt.Fprintf(w, "stored:     %s\n", art.StoredAt.In(loc).Format(time.RFC3339))
			if img := art.Image; img != nil {
				if img.URL != "" {
					fmt.Fprintf(w, "image:      %s\n", img.URL)
				}
				if img.Caption != "" {
					fmt.Fprintf(w, "caption:    %s\n", img.Caption)
				}
			}
			fmt.Fprintf(w, "summary:    %s\n\n%s\n", art.Summary, art.ContentHTML)
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the article in the JSON format bantin ingest and the API take, dates in site.timezone")
	return cmd
}

// articleInput is a stored article in the article JSON format that the
// API, .json files and bantin ingest take (categories by title, dates in
// RFC 3339 in site.timezone), so that `articles show --json` can be
// edited and ingested back. Dates keep their fractions of a second, if
// any, so that the same article comes back unchanged.
func articleInput(a article.Article, loc *time.Location) article.Input {
	in := article.Input{
		ID: a.ID, Title: a.Title, URL: a.URL, Author: a.Author, Summary: a.Summary, ContentHTML: a.ContentHTML,
		PublishedAt: a.PublishedAt.In(loc).Format(time.RFC3339Nano),
		UpdatedAt:   a.UpdatedAt.In(loc).Format(time.RFC3339Nano),
	}
	for _, c := range a.Categories {
		title := c.Title
		if title == "" {
			title = c.Slug
		}
		in.Categories = append(in.Categories, title)
	}
	if img := a.Image; img != nil {
		in.Image = &article.ImageInput{URL: img.URL, Caption: img.Caption, Type: img.Type, Length: img.Length}
	}
	return in
}

func newArticlesDeleteCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:     "delete ID",
		Short:   "Delete an article for good",
		Example: `  bantin articles delete cms-4521`,
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, ids []string) error {
			a, err := openApp(cmd.Context(), opts)
			if err != nil {
				return err
			}
			defer a.close()
			err = a.store.DeleteArticle(cmd.Context(), ids[0])
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no article with id %q; bantin articles list shows the ids", ids[0])
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(opts.stdout, "deleted %s\n", ids[0])
			return nil
		},
	}
}
