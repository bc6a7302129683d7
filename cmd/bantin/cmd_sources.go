package main

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bantin/bantin/internal/config"
	"github.com/bantin/bantin/internal/ingest"
	"github.com/bantin/bantin/internal/store"
)

// sources are the upstream feeds of a config.
func sources(cfg *config.Config) []ingest.Source {
	var out []ingest.Source
	for _, s := range cfg.Ingest.Sources {
		out = append(out, ingest.Source{Name: s.Name, URL: s.URL, Category: s.Category, Interval: s.Interval, Enabled: s.Enabled})
	}
	return out
}

// poller builds the upstream feeds' poller of the config on an importer.
func (a *app) poller(importer *ingest.Importer) *ingest.Poller {
	return ingest.NewPoller(ingest.PollerOptions{
		Sources: sources(a.cfg), Store: a.store, Importer: importer, Logger: a.logger, Now: a.now,
		Location: a.cfg.Location(), UserAgent: "bantin/" + versionString() + " (+" + a.cfg.Site.BaseURL + ")",
		Observe: a.metricsPoll(),
	})
}

// openPoller opens the app and builds its poller; with readOnly (sources
// list), no store is made.
func openPoller(ctx context.Context, opts *options, readOnly bool) (*app, *ingest.Poller, error) {
	open := openApp
	if readOnly {
		open = openAppReadOnly
	}
	a, err := open(ctx, opts)
	if err != nil {
		return nil, nil, err
	}
	importer, err := a.importer()
	if err != nil {
		a.close()
		return nil, nil, err
	}
	return a, a.poller(importer), nil
}

func newSourcesCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "sources",
		Short: "List the upstream feeds and poll one now",
		Long: `Work with the upstream feeds of the config (ingest.sources): serve polls each
on its interval and imports its entries as articles.`,
		Example: `  bantin sources list
  bantin sources poll huyen`,
		Args: cobra.ArbitraryArgs,
		RunE: needsSubcommand,
	}
	cmd.AddCommand(newSourcesListCmd(opts), newSourcesPollCmd(opts))
	return cmd
}

func newSourcesListCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:     "list",
		Short:   "One source a line: last fetch, status, error and next poll",
		Example: `  bantin sources list`,
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			a, p, err := openPoller(ctx, opts, true)
			if err != nil {
				return err
			}
			defer a.close()
			status, err := p.Status(ctx)
			if err != nil {
				return err
			}
			if len(status) == 0 {
				fmt.Fprintln(opts.stderr, "no sources: add them under ingest.sources in the config")
				return nil
			}
			loc := a.cfg.Location()
			w := tabwriter.NewWriter(opts.stdout, 0, 4, 2, ' ', 0)
			fmt.Fprintln(w, "NAME\tENABLED\tEVERY\tLAST FETCH\tSTATUS\tENTRIES\tNEXT POLL\tURL / ERROR")
			for _, s := range status {
				fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%d\t%s\t%s\n", s.Name, yesNo(s.Enabled), s.Interval, when(s.State.LastFetch, loc),
					statusWord(s.State), s.State.Entries, when(s.State.NextPoll, loc), sourceDetail(s))
			}
			return w.Flush()
		},
	}
}

func newSourcesPollCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "poll NAME",
		Short: "Poll one source now and print what changed",
		Long: `Fetch the source called NAME at once, whatever its schedule, import its
entries, and print the articles created or updated and the entries refused.
serve's next poll of it is then counted from now.`,
		Example: `  bantin sources poll huyen`,
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			app, p, err := openPoller(ctx, opts, false)
			if err != nil {
				return err
			}
			defer app.close()
			res, err := p.PollNow(ctx, a[0])
			if err != nil {
				var names []string
				for _, s := range p.Sources() {
					names = append(names, s.Name)
				}
				if len(names) > 0 && strings.Contains(err.Error(), "ingest.sources") {
					return fmt.Errorf("%w; the configured sources are: %s", err, strings.Join(names, ", "))
				}
				return err
			}
			for _, r := range res.Changed {
				fmt.Fprintf(opts.stdout, "%-8s %s\t%s\n", r.Outcome, r.Slug, r.ID)
			}
			for _, r := range res.Rejected {
				fmt.Fprintf(opts.stderr, "rejected %s: %v\n", r.Origin, r.Err)
			}
			if res.MovedTo != "" {
				fmt.Fprintf(opts.stderr, "the feed moved for good to %s; bantin polls it there now (update ingest.sources)\n", res.MovedTo)
			}
			if res.Err != nil {
				fmt.Fprintf(opts.stderr, "%s: %v; next try %s\n", res.Source, res.Err, when(res.Next, app.cfg.Location()))
				return failedError{"poll failed"}
			}
			if res.NotModified {
				fmt.Fprintf(opts.stdout, "%s: not modified since the last poll; next %s\n", res.Source, when(res.Next, app.cfg.Location()))
				return nil
			}
			s := res.Summary
			fmt.Fprintf(opts.stdout, "%s: %s: %d created, %d updated, %d unchanged, %d rejected; next %s\n",
				res.Source, plural(res.Entries, "entry", "entries"), s.Created, s.Updated, s.Unchanged, s.Rejected, when(res.Next, app.cfg.Location()))
			if s.Rejected > 0 {
				return failedError{"some entries were rejected"}
			}
			return nil
		},
	}
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

// when writes a time for a person, "-" for none.
func when(t time.Time, loc *time.Location) string {
	if t.IsZero() {
		return "-"
	}
	return t.In(loc).Format("2006-01-02 15:04")
}

func statusWord(st store.SourceState) string {
	switch {
	case st.LastFetch.IsZero():
		return "never"
	case st.LastStatus == 0:
		return "no answer"
	}
	return fmt.Sprint(st.LastStatus)
}

func sourceDetail(s ingest.SourceStatus) string {
	detail := s.URL
	if s.State.FetchURL != "" && s.State.FetchURL != s.URL {
		detail += " → " + s.State.FetchURL
	}
	if s.State.LastError != "" {
		detail += "  (" + s.State.LastError + ")"
	}
	return detail
}
