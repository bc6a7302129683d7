package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/ingest"
)

func newIngestCmd(opts *options) *cobra.Command {
	var category string
	cmd := &cobra.Command{
		Use:   "ingest [--category NAME] PATH...",
		Short: "Import article files, folders or standard input",
		Long: `Import articles from .json (an object or an array), .jsonl (one object a line),
.md (YAML front matter and a Markdown body) and .txt (a printed page) files.
Folders are read recursively; "-" reads standard input. The same article
again is unchanged; an edited one keeps its id and gets a new updated date.
Bad articles are reported with file, line and reason; the others still go in,
and the exit status is 1.

Categories: a file only adds them. An article gets the categories its file
names, those it has already, and the one --category names (a title such as
"Thời sự", which is also its title when the config gives none, or a slug).
Ingesting the same file again, with or without --category, removes none;
to take a category away, POST the article with its categories to the API.
Files dropped in the watch folder (ingest.watch_dir) follow the same rule.`,
		Example: `  bantin ingest articles.jsonl
  bantin ingest --category "Thời sự" pages/
  curl -s https://cms.example.vn/export | bantin ingest -`,
		Args: args(1, -1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			ctx := cmd.Context()
			a, err := openApp(ctx, opts)
			if err != nil {
				return err
			}
			defer a.close()
			if err := storeCategoryTitles(ctx, a.store, a.cfg); err != nil {
				return err
			}
			im, err := a.importer()
			if err != nil {
				return err
			}
			if category != "" && article.Slugify(category) == "" {
				return usageError{fmt.Errorf("--category %q has no letters or digits to make a slug from", category)}
			}
			start := time.Now()
			bar := newProgress(opts.stderr, -1, "importing", "articles")
			// Only regular files are read: a pipe, device or socket met in
			// a folder is skipped and said so (one named alone is rejected).
			files := ingest.Files(ingest.FilesOptions{Paths: paths, Stdin: opts.stdin, Category: category,
				Skipped: func(path, reason string) {
					fmt.Fprintf(opts.stderr, "skipped %s: %s; only regular files are read\n", path, reason)
				}})
			summary, err := im.Run(ctx, files, func(r ingest.Result) {
				bar.add(1)
				if r.Err != nil {
					fmt.Fprintf(opts.stderr, "rejected %s: %v\n", r.Origin, r.Err)
				}
			})
			bar.finish()
			fmt.Fprintf(opts.stdout, "%d created, %d updated, %d unchanged, %d rejected (%d in %s)\n",
				summary.Created, summary.Updated, summary.Unchanged, summary.Rejected, summary.Total(),
				time.Since(start).Round(time.Millisecond))
			if err != nil {
				return err
			}
			if summary.Rejected > 0 {
				return failedError{plural(summary.Rejected, "article", "articles") + " rejected"}
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&category, "category", "", "add this category (title or slug) to every imported article, keeping those it has")
	return cmd
}
