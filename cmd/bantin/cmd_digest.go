package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	netmail "net/mail"
	"strings"
	texttemplate "text/template"
	"time"

	"github.com/spf13/cobra"

	"github.com/bantin/bantin/internal/config"
	"github.com/bantin/bantin/internal/digest"
	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/subscriber"
	"github.com/bantin/bantin/templates"
)

// newsletters reads the newsletters of cfg for the digest, each checked
// as checkConfig checks them; a problem is a *config.Error (exit 2).
func newsletters(cfg *config.Config, tmpl *templates.Set) ([]digest.Newsletter, error) {
	lists, probs := newsletterProblems(cfg, tmpl)
	if err := cfg.Place(probs); err != nil {
		return nil, err
	}
	return lists, nil
}

// digestService builds the newsletters' digest service on a transport.
func (a *app) digestService(tmpl *templates.Set, transport mail.Transport, links digest.Links, holder string) (*digest.Service, error) {
	cfg := a.cfg
	lists, err := newsletters(cfg, tmpl)
	if err != nil {
		return nil, err
	}
	from, replyTo, err := a.senderAddresses()
	if err != nil {
		return nil, err
	}
	workers := 1
	if cfg.Mail.Transport == "smtp" {
		workers = max(1, cfg.Mail.SMTP.Connections)
	}
	sender := cfg.Site.Title
	if from.Name != "" && from.Name != sender {
		sender = from.Name + " · " + sender
	}
	sender += " · " + cfg.Site.BaseURL
	// Built once per process; the store's secret is read with no deadline
	// of a caller, as the other parts are built.
	kit, err := a.bounceKit(context.Background())
	if err != nil {
		return nil, err
	}
	return digest.New(digest.Options{
		Store: a.store, Newsletters: lists, Emails: tmpl, Transport: transport, Links: links,
		From: *from, ReplyTo: replyTo, Site: cfg.Site.Title, Sender: sender, BaseURL: cfg.Site.BaseURL, Lang: cfg.Site.Language,
		Location: cfg.Location(), Logger: a.logger, Now: a.now, BounceLimit: cfg.Subscribe.BounceLimit, Workers: workers, Batch: digestBatch(cfg.Mail.SMTP.Rate, workers), Holder: holder, Observe: a.metricsDigest(),
		ReturnPath: kit.digestReturnPath(), Bounces: kit.policy,
	}), nil
}

// digestBatch sizes a claim so that a batch is sent well within its lease
// even at a slow rate limit: a claim is renewed while its batch is sent,
// but one that takes minutes would keep deliveries from the other workers.
// 50 rather than fewer: each claim is a write transaction, 7-9% of an
// unsigned send's CPU at 20 a claim; a worker holds its batch rendered,
// about 2.7 MB of 53 KB digests.
func digestBatch(rate float64, workers int) int {
	const batch = 50
	if rate <= 0 {
		return batch
	}
	return max(1, min(batch, int(rate*10/float64(workers))))
}

// digestApp is what the digest commands work with.
type digestApp struct {
	*app
	svc       *digest.Service
	transport mail.Transport
	tmpl      *templates.Set
}

// digestOpen says how a digest command opens the app.
type digestOpen struct {
	configured bool // list must be in the config
	quiet      bool // log errors only
	readOnly   bool // never make or migrate a store (status, preview)
}

// openDigest opens the app, the templates, the transport and the digest
// service, as how says.
func openDigest(ctx context.Context, opts *options, list string, how digestOpen) (*digestApp, error) {
	open := openApp
	if how.readOnly {
		open = openAppReadOnly
	}
	a, err := open(ctx, opts)
	if err != nil {
		return nil, err
	}
	if how.quiet {
		c := *a.cfg
		c.Log.Level = "error"
		a.logger = newLogger(&c, opts.stderr)
	}
	da := &digestApp{app: a}
	fail := func(err error) (*digestApp, error) {
		da.close()
		return nil, err
	}
	if da.tmpl, err = templates.Load(a.cfg.TemplatesDir); err != nil {
		return fail(fmt.Errorf("templates: %w", err))
	}
	if da.transport, err = a.transport(); err != nil {
		return fail(fmt.Errorf("mail transport: %w", err))
	}
	subs, err := a.subscribers(ctx, noMailer{}, da.tmpl)
	if err != nil {
		return fail(fmt.Errorf("subscriber service: %w", err))
	}
	if da.svc, err = a.digestService(da.tmpl, da.transport, subs, processName()); err != nil {
		return fail(err)
	}
	if _, err := da.svc.Newsletter(list); err != nil && how.configured {
		return fail(err)
	}
	return da, nil
}

func (da *digestApp) close() error {
	var terr error
	if da.transport != nil {
		terr = da.transport.Close()
	}
	return errors.Join(terr, da.app.close())
}

func newDigestCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "digest",
		Short: "Show, preview, send or cancel a newsletter's issues",
		Long: `Work with the issues of the newsletters named in the config (newsletters:).
serve makes and sends issues on each list's schedule; these commands show
where each list stands, preview the next issue, send it now, or stop one in
progress.`,
		Example: `  bantin digest status
  bantin digest preview ban-tin-sang --format text
  bantin digest send ban-tin-sang --to editor@example.vn
  bantin digest send ban-tin-sang
  bantin digest cancel ban-tin-sang`,
		Args: cobra.ArbitraryArgs,
		RunE: needsSubcommand,
	}
	cmd.AddCommand(newDigestStatusCmd(opts), newDigestPreviewCmd(opts), newDigestSendCmd(opts), newDigestCancelCmd(opts))
	return cmd
}

func newDigestStatusCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "status [LIST]",
		Short: "Show each list's last issue, next run, subscribers and queue",
		Long: `Show where each newsletter stands (or only LIST): its schedule and time
zone, its last issue (number, when it was made, its copies sent, failed and
waiting), its next run in the list's zone, how many articles the next issue
holds so far, its confirmed subscribers and the copies waiting to be sent.
Nothing is changed. GET /api/v1/newsletters gives the same as JSON.`,
		Example: `  bantin digest status
  bantin digest status ban-tin-sang`,
		Args: args(0, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			list := ""
			if len(a) == 1 {
				list = a[0]
			}
			da, err := openDigest(ctx, opts, list, digestOpen{configured: list != "", readOnly: true})
			if err != nil {
				return err
			}
			defer da.close()
			lists, err := da.svc.Status(ctx, list)
			if err != nil {
				return err
			}
			if len(lists) == 0 {
				fmt.Fprintln(opts.stdout, "no newsletters are configured (newsletters: in the config)")
				return nil
			}
			now := da.now()
			for i, ls := range lists {
				if i > 0 {
					fmt.Fprintln(opts.stdout)
				}
				writeStatus(opts.stdout, ls, now)
			}
			return nil
		},
	}
}

// writeStatus writes one list's status for a reader, its times in the
// list's zone.
func writeStatus(w io.Writer, ls digest.ListStatus, now time.Time) {
	at := func(t time.Time) string { return t.In(ls.Location).Format("Mon 2006-01-02 15:04 -07:00") }
	fmt.Fprintf(w, "%s — %s\n", ls.ID, ls.Title)
	cats := "every category"
	if len(ls.Categories) > 0 {
		cats = strings.Join(ls.Categories, ", ")
	}
	fmt.Fprintf(w, "  schedule     %s, %s (%s)\n", ls.Schedule, ls.Location, cats)
	if ls.Last == nil {
		fmt.Fprintf(w, "  last issue   none yet\n")
	} else {
		l := ls.Last
		state := "sent " + at(l.SentAt)
		switch l.Status {
		case "sending":
			state = "sending since " + at(l.SentAt)
		case "cancelled":
			state = "cancelled (made " + at(l.SentAt) + ")"
		}
		fmt.Fprintf(w, "  last issue   #%d %s: %d sent, %d failed, %d skipped, %d queued\n",
			l.Number, state, l.Sent, l.Failed, l.Skipped, l.Queued)
		fmt.Fprintf(w, "               %q\n", l.Subject)
	}
	if !ls.Overdue.IsZero() {
		fmt.Fprintf(w, "  overdue      the run of %s has articles and no issue: is serve running?\n", at(ls.Overdue))
	}
	if ls.NextRun.IsZero() {
		fmt.Fprintf(w, "  next run     never (the schedule has no next time)\n")
	} else {
		fmt.Fprintf(w, "  next run     %s (in %s)\n", at(ls.NextRun), until(ls.NextRun.Sub(now)))
	}
	next := plural(ls.NewArticles, "article", "articles") + " so far"
	if ls.MaxArticles > 0 && ls.NewArticles >= ls.MaxArticles {
		next += " (max_articles)"
	}
	if ls.NewArticles == 0 {
		next += ": no issue unless articles come"
	}
	fmt.Fprintf(w, "  next issue   %s\n", next)
	fmt.Fprintf(w, "  subscribers  %d confirmed\n", ls.Confirmed)
	fmt.Fprintf(w, "  queue        %s waiting to be sent\n", plural(ls.Queued, "copy", "copies"))
}

// until writes a wait to the minute: "3h05m", "2d4h", "under a minute".
func until(d time.Duration) string {
	d = d.Round(time.Minute)
	switch {
	case d < time.Minute:
		return "under a minute"
	case d < time.Hour:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
	return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
}

func newDigestPreviewCmd(opts *options) *cobra.Command {
	var format, since string
	cmd := &cobra.Command{
		Use:   "preview LIST",
		Short: "Render the issue LIST would send now, without sending or storing it",
		Long: `Render the issue LIST would send now: the articles that became visible
since its last issue (or since --since), as the HTML part, the text part, or
the whole message (eml) an example reader would get. Nothing is stored.`,
		Example: `  bantin digest preview ban-tin-sang > preview.html
  bantin digest preview ban-tin-sang --format text
  bantin digest preview ban-tin-sang --format eml --since 2024-03-27T06:00:00+07:00`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			if format != "html" && format != "text" && format != "eml" {
				return usageError{fmt.Errorf("--format %q: use html, text or eml", format)}
			}
			ctx := cmd.Context()
			da, err := openDigest(ctx, opts, a[0], digestOpen{configured: true, readOnly: true})
			if err != nil {
				return err
			}
			defer da.close()
			var from time.Time
			if since != "" {
				if from, err = parseSince(since, da.cfg.Location(), da.now()); err != nil {
					return usageError{err}
				}
			}
			is, err := da.svc.Preview(ctx, a[0], from)
			if err != nil {
				return err
			}
			if len(is.Articles) == 0 {
				fmt.Fprintf(opts.stderr, "%s has no new articles: its next issue would not be sent (try --since)\n", a[0])
				return failedError{"nothing to preview"}
			}
			to := digest.Recipient{Email: "ban-doc@example.com", Name: "Bạn đọc",
				UnsubscribeURL: da.cfg.Site.BaseURL + "/unsubscribe/PREVIEW", PreferencesURL: da.cfg.Site.BaseURL + "/preferences/PREVIEW"}
			if da.cfg.Site.Language == "en" {
				to.Name = "Reader"
			}
			c, err := is.Render(da.tmpl, to)
			if err != nil {
				return err
			}
			switch format {
			case "html":
				_, err = io.WriteString(opts.stdout, c.HTML)
			case "text":
				_, err = io.WriteString(opts.stdout, c.Text)
			case "eml":
				from, perr := netmail.ParseAddress(da.cfg.Mail.From)
				if perr != nil {
					return fmt.Errorf("mail.from: %w", perr)
				}
				var raw []byte
				raw, err = mail.Render(mail.Message{From: *from, To: netmail.Address{Name: to.Name, Address: to.Email},
					Subject: c.Subject, Text: c.Text, HTML: c.HTML, Date: da.now(), Headers: c.Headers}, da.cfg.Location())
				if err == nil {
					_, err = opts.stdout.Write(raw)
				}
			}
			if err != nil {
				return err
			}
			fmt.Fprintf(opts.stderr, "preview of %s issue %d: %s\n", a[0], is.Number, plural(len(is.Articles), "article", "articles"))
			return nil
		},
	}
	cmd.Flags().StringVar(&format, "format", "html", "html, text or eml")
	cmd.Flags().StringVar(&since, "since", "", "start of the window instead of the last issue: RFC 3339, a date (2024-03-27), or a duration ago (24h)")
	return cmd
}

// parseSince reads --since: an RFC 3339 time, a date or date and time in
// the site's zone, or a duration before now.
func parseSince(s string, loc *time.Location, now time.Time) (time.Time, error) {
	if d, err := time.ParseDuration(s); err == nil && d > 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: write an RFC 3339 time (2024-03-27T06:00:00+07:00), a date (2024-03-27) or a duration ago (24h)", s)
}

func newDigestSendCmd(opts *options) *cobra.Command {
	var dryRun, quiet bool
	var to string
	cmd := &cobra.Command{
		Use:   "send LIST",
		Short: "Make LIST's issue now and send it",
		Long: `Make the issue of LIST now, out of schedule (the articles since its last
issue), and send it to every confirmed subscriber. An issue already in
progress (its sending was interrupted) is sent on. Deliveries are claimed one
by one in the store, so this is safe while serve runs: nobody gets two copies.
Temporary failures stay queued for serve to retry.

What was done is printed on stdout; log lines, the progress bar and errors go
to stderr. --quiet prints errors only.

--dry-run says what would be sent. --to sends one test copy to an address and
records nothing; when nothing is new since the last issue, the copy holds the
last issue's articles (or, before the first issue, the latest ones within
max_age) and its subject starts with [Thử] ([Test] in English), so a template
change can be tried at any time.`,
		Example: `  bantin digest send ban-tin-sang --dry-run
  bantin digest send ban-tin-sang --to editor@example.vn
  bantin digest send ban-tin-sang
  bantin digest send ban-tin-sang --quiet   # from cron: silent unless it fails`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			list := a[0]
			if quiet && dryRun {
				return usageError{errors.New("--dry-run only prints what would be sent; --quiet would hide it")}
			}
			// The summary goes to stdout, where a script reads it; logs
			// and errors to stderr.
			out := opts.stdout
			if quiet {
				out = io.Discard
			}
			da, err := openDigest(ctx, opts, list, digestOpen{configured: true, quiet: quiet})
			if err != nil {
				return err
			}
			defer da.close()
			switch {
			case to != "":
				if _, err := netmail.ParseAddress(to); err != nil || strings.ContainsAny(to, "<>\r\n") {
					return usageError{fmt.Errorf("--to %q is not an email address", to)}
				}
				res, tc, err := da.svc.SendTest(ctx, list, to)
				if err != nil {
					return err
				}
				what := fmt.Sprintf("issue %d", tc.Issue.Number)
				if tc.Repeat {
					what = fmt.Sprintf("issue %d again (nothing new since it)", tc.Issue.Number)
					if tc.Issue.Number == 1 {
						if _, err := da.store.LastIssue(ctx, list); errors.Is(err, store.ErrNotFound) {
							what = "its latest articles (no issue yet)"
						}
					}
				}
				fmt.Fprintf(out, "test copy of %s %s, %s, sent to %s: %q (Message-ID %s); nothing recorded\n",
					list, what, plural(len(tc.Issue.Articles), "article", "articles"), to, tc.Subject, res.MessageID)
				return nil
			case dryRun:
				is, err := da.svc.Preview(ctx, list, time.Time{})
				if err != nil {
					return err
				}
				subs, err := da.store.ListSubscribers(ctx, list, store.Confirmed)
				if err != nil {
					return err
				}
				if len(is.Articles) == 0 {
					fmt.Fprintf(out, "%s: no new articles since its last issue; nothing would be sent\n", list)
					return nil
				}
				fmt.Fprintf(out, "%s issue %d would hold %s for %s:\n", list, is.Number,
					plural(len(is.Articles), "article", "articles"), plural(len(subs), "confirmed subscriber", "confirmed subscribers"))
				for _, art := range is.Articles {
					fmt.Fprintf(out, "  %s  %s\n", art.PublishedAt.In(da.cfg.Location()).Format("2006-01-02 15:04"), art.Title)
				}
				return nil
			}
			made, err := da.svc.SendNow(ctx, list)
			if err != nil {
				return err
			}
			if made.Issue.ID != 0 {
				fmt.Fprintf(out, "issue %d of %s made: %s, %s\n", made.Issue.Number, list,
					plural(len(made.Issue.ArticleIDs), "article", "articles"), plural(made.Deliveries, "delivery", "deliveries"))
			} else {
				fmt.Fprintf(out, "%s\n", made.Reason)
			}
			return da.deliver(ctx, opts, list, out, quiet)
		},
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "say what would be sent; send and store nothing")
	cmd.Flags().StringVar(&to, "to", "", "send one test copy to this address; record nothing")
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "print errors only (for cron and scripts)")
	return cmd
}

// deliver sends every issue of list in progress, with a progress bar on a
// terminal (unless quiet) and a summary on out at the end.
func (da *digestApp) deliver(ctx context.Context, opts *options, list string, out io.Writer, quiet bool) error {
	issues, err := da.store.SendingIssues(ctx)
	if err != nil {
		return err
	}
	var total digest.Report
	var any bool
	for _, is := range issues {
		if is.List != list {
			continue
		}
		any = true
		counts, err := da.store.DeliveryCounts(ctx, is.ID)
		if err != nil {
			return err
		}
		bar := &progress{}
		if !quiet {
			bar = newProgress(opts.stderr, int64(counts[store.DeliveryQueued]), fmt.Sprintf("%s #%d", list, is.Number), "emails")
		}
		var last int
		r, err := da.svc.DeliverIssue(ctx, is, func(r digest.Report) {
			n := r.Sent + r.Failed + r.Skipped + r.Retry
			bar.add(n - last)
			last = n
		})
		bar.finish()
		total.Sent += r.Sent
		total.Failed += r.Failed
		total.Skipped += r.Skipped
		total.Retry += r.Retry
		var relay *mail.RelayError
		if errors.As(err, &relay) {
			return da.relayDown(ctx, opts, list, out, is, total, relay)
		}
		if err != nil {
			return err
		}
	}
	if !any {
		fmt.Fprintf(out, "%s: no issue to send\n", list)
		return nil
	}
	fmt.Fprintf(out, "%s: %d sent, %d failed, %d skipped, %d queued for retry by serve\n", list, total.Sent, total.Failed, total.Skipped, total.Retry)
	switch {
	case total.Failed > 0:
		// Said on stderr too: under --quiet it is all a script sees.
		fmt.Fprintf(opts.stderr, "%s of %s failed for good (5xx answers; they count toward each address's bounce limit)\n",
			plural(total.Failed, "delivery", "deliveries"), list)
		return failedError{"some deliveries failed"}
	case total.Retry > 0 && total.Sent == 0:
		// Nothing got through (a relay that is down): say so with the
		// status, so that a script does not take it for a send.
		fmt.Fprintf(opts.stderr, "nothing was sent: every delivery is queued for a retry; is the relay (mail.smtp.*) up, and is serve running to retry?\n")
		return failedError{"nothing sent"}
	}
	return nil
}

// relayDown reports a send cut short by a relay that cannot be reached:
// which relay, why, and how many copies wait in the queue (read from the
// store, so copies another sender holds are counted too).
func (da *digestApp) relayDown(ctx context.Context, opts *options, list string, out io.Writer, is store.Issue, total digest.Report, relay *mail.RelayError) error {
	counts, err := da.store.DeliveryCounts(context.WithoutCancel(ctx), is.ID)
	if err != nil {
		return fmt.Errorf("%w; counting the copies left: %w", relay, err)
	}
	waiting := counts[store.DeliveryQueued]
	fmt.Fprintf(out, "%s: %d sent, %d failed, %d skipped, %d waiting for the relay\n", list, total.Sent, total.Failed, total.Skipped, waiting)
	wait, them := "wait", "them"
	if waiting == 1 {
		wait, them = "waits", "it"
	}
	fmt.Fprintf(opts.stderr, "the relay %s cannot be reached after %s (%v): sending stopped; %s of %s issue %d %s in the queue, none failed; serve sends %s once the relay answers, or run this command again\n",
		relay.Relay, plural(relay.Tries, "try", "tries"), relay.Err, plural(waiting, "copy", "copies"), list, is.Number, wait, them)
	return failedError{fmt.Sprintf("relay %s cannot be reached: %s %s", relay.Relay, plural(waiting, "copy", "copies"), wait)}
}

func newDigestCancelCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "cancel LIST",
		Short: "Stop LIST's issue in progress: its unsent deliveries are dropped",
		Long: `Stop the issue of LIST that is being sent: every delivery not yet sent is
dropped at once (one in the middle of its SMTP transaction finishes). The
issue stays in the archive for those who got it.`,
		Example: `  bantin digest cancel ban-tin-sang`,
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			// A list taken out of the config can still have its issue
			// in progress cancelled.
			da, err := openDigest(ctx, opts, a[0], digestOpen{})
			if err != nil {
				return err
			}
			defer da.close()
			is, dropped, err := da.svc.Cancel(ctx, a[0])
			if errors.Is(err, store.ErrNotFound) {
				fmt.Fprintf(opts.stderr, "%s: no issue is being sent\n", a[0])
				return failedError{"nothing to cancel"}
			}
			if err != nil {
				return err
			}
			counts, err := da.store.DeliveryCounts(ctx, is.ID)
			if err != nil {
				return err
			}
			fmt.Fprintf(opts.stdout, "%s issue %d cancelled: %s dropped, %d already sent\n", a[0], is.Number,
				plural(dropped, "delivery", "deliveries"), counts[store.DeliverySent])
			return nil
		},
	}
}

// The subscriber service makes the digest's personal links.
var _ digest.Links = (*subscriber.Service)(nil)

// digestSubject parses a newsletter's subject template.
func digestSubject(s string) (*texttemplate.Template, error) {
	t, err := texttemplate.New("subject").Option("missingkey=error").Parse(s)
	if err != nil {
		return nil, fmt.Errorf("subject template %q: %w", s, err)
	}
	return t, nil
}
