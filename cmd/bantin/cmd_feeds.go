package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/bantin/bantin/internal/feed"
)

func newFeedsCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "feeds",
		Short:   "Build the feeds as static files",
		Example: `  bantin feeds build --out public/`,
		Args:    cobra.ArbitraryArgs,
		RunE:    needsSubcommand,
	}
	var out string
	var withGzip bool
	build := &cobra.Command{
		Use:   "build --out DIR [--gzip]",
		Short: "Write every feed and every page as files, byte-identical to what serve sends",
		Long: `Write every feed document — site-wide and per category, RSS, Atom and JSON
Feed, every page — and feeds.opml under DIR at the paths serve uses
(DIR/feeds/rss.xml, DIR/feeds/thoi-su/page/2/atom.xml, …), for a CDN or a
static host. Scheduled articles are left out until their time. With --gzip,
each file gets a .gz beside it, the bytes serve sends compressed. Files are
only written, never removed: build into an empty folder (and swap it in) so
that pages and categories that no longer exist disappear.`,
		Example: `  bantin feeds build --out public/
  bantin feeds build --out /var/www/bantin --gzip`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			if out == "" {
				return usageError{fmt.Errorf("feeds build needs --out DIR")}
			}
			ctx := cmd.Context()
			a, err := openApp(ctx, opts)
			if err != nil {
				return err
			}
			defer a.close()
			start := time.Now()
			feeds := a.feeds()
			scopes, err := feeds.Scopes(ctx)
			if err != nil {
				return err
			}
			files := 0
			write := func(path string, doc *feed.Rendered) error {
				if err := writeFile(filepath.Join(out, filepath.FromSlash(path)), doc.Body); err != nil {
					return err
				}
				files++
				if withGzip {
					if err := writeFile(filepath.Join(out, filepath.FromSlash(path))+".gz", doc.Gzip); err != nil {
						return err
					}
				}
				return nil
			}
			total := 1 // feeds.opml
			for _, sc := range scopes {
				total += sc.Pages * len(feed.Kinds)
			}
			bar := newProgress(opts.stderr, int64(total), "building", "documents")
			defer bar.finish()
			for _, sc := range scopes {
				slug := ""
				if sc.Category != nil {
					slug = sc.Category.Slug
				}
				for page := 1; page <= sc.Pages; page++ {
					for _, kind := range feed.Kinds {
						doc, err := feeds.Get(ctx, slug, page, kind)
						if errors.Is(err, feed.ErrNotFound) {
							continue // gone since the list was made (a deletion meanwhile)
						}
						if err != nil {
							return err
						}
						if err := write(feed.Path(slug, page, kind), doc); err != nil {
							return err
						}
						bar.add(1)
					}
				}
			}
			opml, err := feeds.OPML(ctx)
			if err != nil {
				return err
			}
			if err := write("/feeds.opml", opml); err != nil {
				return err
			}
			bar.add(1)
			bar.finish()
			fmt.Fprintf(opts.stdout, "wrote %s for %s under %s (%s)\n", plural(files, "file", "files"), plural(len(scopes), "feed", "feeds"),
				out, time.Since(start).Round(time.Millisecond))
			return nil
		},
	}
	build.Flags().StringVar(&out, "out", "", "folder to write into (created if missing)")
	build.Flags().BoolVar(&withGzip, "gzip", false, "also write each file gzip-compressed as FILE.gz")
	cmd.AddCommand(build)
	return cmd
}

// writeFile writes data through a temporary file and a rename, so that a
// static server never sends half a feed.
func writeFile(path string, data []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".bantin-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}
