package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bantin/bantin/internal/bounce"
	"github.com/bantin/bantin/internal/config"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/subscriber"
)

func newBouncesCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bounces",
		Short: "Read bounce messages, complaints and automatic replies",
		Long: `Work with the emails that come back to the return path: delivery failure
notices, spam complaints (feedback reports) and automatic replies.`,
		Example: `  bantin bounces parse returned.eml
  bantin bounces parse ~/Maildir/.Bounces bounces.mbox
  bantin bounces import - < returned.eml
  bantin bounces list --since 24h --kind hard`,
		Args: cobra.ArbitraryArgs,
		RunE: needsSubcommand,
	}
	cmd.AddCommand(newBouncesParseCmd(opts), newBouncesImportCmd(opts), newBouncesListCmd(opts))
	return cmd
}

// parsedLine is one line of bounces parse: one recipient of one message.
// Unknown values are null rather than empty, so a script tells "no
// address" from an empty one.
type parsedLine struct {
	File         string  `json:"file"`
	Message      int     `json:"message,omitempty"`
	Kind         string  `json:"kind"`
	Recipient    *string `json:"recipient"`
	Status       *string `json:"status"`
	Reason       *string `json:"reason"`
	Delivery     *string `json:"delivery"`
	FeedbackType string  `json:"feedback_type,omitempty"`
	Format       string  `json:"format,omitempty"`
	Truncated    bool    `json:"truncated,omitempty"`
}

func nullable(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// parsedLines are the lines of one message: one per recipient it names,
// or one with a null recipient when it names none.
func parsedLines(m bounce.Message) []parsedLine {
	r := m.Report
	base := parsedLine{File: m.Path, Message: m.Index, Kind: string(r.Kind), Status: nullable(r.Status),
		Reason: nullable(r.Reason), Delivery: nullable(r.Token), FeedbackType: r.FeedbackType, Format: r.Format,
		Truncated: r.Truncated}
	if len(r.Recipients) == 0 {
		return []parsedLine{base}
	}
	var out []parsedLine
	for _, rc := range r.Recipients {
		line := base
		line.Kind, line.Recipient = string(rc.Kind), nullable(rc.Address)
		if rc.Status != "" || rc.Reason != "" {
			line.Status, line.Reason = nullable(rc.Status), nullable(rc.Reason)
		}
		out = append(out, line)
	}
	return out
}

func newBouncesParseCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "parse FILE...",
		Short: "Print what bantin reads from bounce messages, changing nothing",
		Long: `Read each message and print what bantin makes of it, one JSON object a line:
{"file", "kind", "recipient", "status", "reason", "delivery"}, one line per
address a message names (a line with "recipient": null when it names none).

kind is hard, soft, complaint, auto-reply or not-a-bounce; status is the
enhanced status code (5.1.1); reason is the server's words on one line;
delivery is the token of the return path (bounces+TOKEN@…) the message came
back to, or null. Complaints add "feedback_type"; a line says which
"format" was read: rfc3464 (delivery status reports: Postfix, Sendmail,
Exchange and Office 365, Gmail, Amazon SES and most others), arf (spam
complaints), the own text of qmail, exim, sendmail, exchange, gmail, yahoo
and postfix, x-failed-recipients, text (a notice naming no address),
auto-reply. A message cut at 10 MiB says "truncated": true.

FILE is a message (.eml), an mbox file (each message a line, with its
"message" number from 1), a maildir folder (new/ and cur/) or a folder of
message files, or "-" for standard input. Nothing is stored and no config
or store is opened. The exit status is 1 when a file or message could not
be read (it is named on standard error), else 0 whatever the messages are.`,
		Example: `  bantin bounces parse returned.eml
  bantin bounces parse ~/Maildir/.Bounces
  bantin bounces parse - < message.eml`,
		Args: args(1, -1),
		RunE: func(cmd *cobra.Command, paths []string) error {
			enc := json.NewEncoder(opts.stdout)
			enc.SetEscapeHTML(false) // reasons quote <addresses>
			var p bounce.Options
			failed := 0
			for _, path := range paths {
				err := p.Each(path, opts.stdin, func(m bounce.Message) {
					if m.Err != nil {
						failed++
						fmt.Fprintf(opts.stderr, "bantin: %s: %v\n", m.Place(), m.Err)
						return
					}
					for _, line := range parsedLines(m) {
						if err := enc.Encode(line); err != nil {
							failed++
							fmt.Fprintf(opts.stderr, "bantin: write: %v\n", err)
						}
					}
				})
				if err != nil {
					failed++
					fmt.Fprintf(opts.stderr, "bantin: %v\n", err)
				}
			}
			if failed > 0 {
				return failedError{fmt.Sprintf("%d message(s) or file(s) could not be read", failed)}
			}
			return nil
		},
	}
}

// tempFailError is a failure worth trying again later, such as a store
// that is busy or cannot be reached: exit status 75 (EX_TEMPFAIL), which
// an MTA delivering to a pipe takes as "keep the message and retry"
// rather than bouncing it back.
type tempFailError struct{ err error }

func (e tempFailError) Error() string { return e.err.Error() }
func (e tempFailError) Unwrap() error { return e.err }

// exitTempFail is sysexits.h's EX_TEMPFAIL.
const exitTempFail = 75

// bounceParts are the return path and the bounce policy of the config.
type bounceParts struct {
	tokens     *subscriber.Tokens
	returnPath *subscriber.ReturnPath // nil: mail.return_path is off
	policy     *subscriber.Bounces
}

// bounceKit returns the link tokens, the VERP return path
// (mail.return_path) and the one bounce policy (subscribe.bounce_limit,
// soft_bounce_limit and soft_bounce_window) every way in hands its events
// to, built on first use: the token secret is read from the store once.
func (a *app) bounceKit(ctx context.Context) (*bounceParts, error) {
	if a.bounces != nil {
		return a.bounces, nil
	}
	key, err := a.store.Secret(ctx, tokenSecret, subscriber.SecretSize)
	if err != nil {
		return nil, err
	}
	tokens, err := subscriber.NewTokens(key)
	if err != nil {
		return nil, err
	}
	rp, err := subscriber.NewReturnPath(tokens, a.cfg.Mail.ReturnPath)
	if err != nil {
		return nil, err
	}
	var observe func(string, bounce.Kind)
	if a.metrics != nil {
		observe = func(source string, kind bounce.Kind) { a.metrics.Bounces.WithLabelValues(source, string(kind)).Inc() }
	}
	sub := a.cfg.Subscribe
	policy := subscriber.NewBounces(subscriber.BounceOptions{
		Store: a.store, Tokens: tokens, Logger: a.logger, Now: a.now, Observe: observe,
		Limits: store.BounceLimits{Hard: sub.BounceLimit, Soft: sub.SoftBounceLimit, SoftWindow: sub.SoftBounceWindow},
	})
	a.bounces = &bounceParts{tokens: tokens, returnPath: rp, policy: policy}
	return a.bounces, nil
}

// parseOptions are the bounce reader's options: the token is looked for
// after mail.return_path's local part.
func (b *bounceParts) parseOptions() bounce.Options {
	var o bounce.Options
	if b.returnPath != nil {
		o.ReturnPrefix = b.returnPath.Prefix()
	}
	return o
}

// digestReturnPath is the digest's per-copy envelope sender, nil when off.
func (b *bounceParts) digestReturnPath() func(issueID, subscriberID int64) string {
	if b.returnPath == nil {
		return nil
	}
	return b.returnPath.For
}

// importTally counts what bounces import did, for its summary line.
type importTally map[bounce.Outcome]int

func (t importTally) String() string {
	return strings.Join([]string{
		fmt.Sprintf("%d counted", t[bounce.Counted]),
		fmt.Sprintf("%d bounced", t[bounce.Bounced]),
		fmt.Sprintf("%d unsubscribed", t[bounce.Unsubscribed]),
		plural(t[bounce.Duplicate], "duplicate", "duplicates"),
		fmt.Sprintf("%d ignored", t[bounce.Ignored]),
		fmt.Sprintf("%d unknown", t[bounce.Unknown]),
	}, ", ")
}

// messageID is what names an imported notice: its Message-ID, else a hash
// of its report, so the same notice imported twice counts once.
func messageID(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return "sha256:" + hex.EncodeToString(sum[:16])
}

// reportKey is what identifies a report with no Message-ID of its own.
func reportKey(m bounce.Message) string {
	r := m.Report
	var b strings.Builder
	fmt.Fprintf(&b, "%s|%s|%s|%s|%s|%s", r.Kind, r.Token, r.Status, r.Reason, r.OriginalMessageID, r.FeedbackType)
	for _, rc := range r.Recipients {
		fmt.Fprintf(&b, "|%s %s %s", rc.Address, rc.Kind, rc.Status)
	}
	return b.String()
}

// transient: every store failure but a missing record is worth another
// try. A busy, full or unreachable store is the usual cause, and on exit
// 75 (EX_TEMPFAIL) the mail server keeps the message and pipes it again
// later, where exit 1 would bounce the bounce.
func transient(err error) bool {
	return err != nil && !errors.Is(err, store.ErrNotFound)
}

func newBouncesImportCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "import [FILE|FOLDER|-]...",
		Short: "Record bounces, complaints and automatic replies from messages",
		Long: `Read each message as bounces parse does and apply the bounce policy to what it
says: a hard bounce counts toward subscribe.bounce_limit, soft bounces toward
subscribe.soft_bounce_limit within subscribe.soft_bounce_window (either reached:
the subscriber is bounced and gets no more mail), a complaint unsubscribes
the address from every list, an automatic reply changes nothing. The
subscriber is found by the token of the return path (mail.return_path), else
by the address the notice names. The same notice imported twice counts once.

FILE is a message (.eml), an mbox file, a maildir folder or a folder of
message files, or "-" (the default) for standard input, as an MTA's pipe
gives it:

  # An alias file owned by the user bantin runs as (Postfix runs the command
  # as the file's owner, root's /etc/aliases as nobody), in alias_maps, with
  # recipient_delimiter = + so that bounces+TOKEN@ reaches bounces@:
  bounces: "|/usr/local/bin/bantin --config /etc/bantin/bantin.yaml bounces import -"

One summary line is printed at the end and nothing else on success. Exit
status: 0 when every message was read (whatever it said, even an unknown
address); 1 when a file or message could not be read; 75 (EX_TEMPFAIL) when
the store is busy or cannot be reached, so that the MTA keeps the message
and delivers it again later; 2 for a usage or config error.`,
		Example: `  bantin bounces import - < returned.eml
  bantin bounces import ~/Maildir/.Bounces bounces.mbox`,
		Args: cobra.ArbitraryArgs,
		RunE: func(cmd *cobra.Command, paths []string) error {
			if len(paths) == 0 {
				paths = []string{"-"}
			}
			ctx := cmd.Context()
			cfg, err := loadConfig(opts)
			if err != nil {
				return err
			}
			a, err := openAppConfig(ctx, cfg, opts)
			if err != nil {
				var ce *config.Error
				if errors.As(err, &ce) {
					return err
				}
				return tempFailError{err}
			}
			defer a.store.Close()
			// An MTA's pipe wants nothing but the summary on success:
			// what the policy did to whom is in bounces list; warnings
			// and errors still show.
			if strings.EqualFold(cfg.Log.Level, "info") || cfg.Log.Level == "" {
				quiet := *cfg
				quiet.Log.Level = "warn"
				a.logger = newLogger(&quiet, opts.stderr)
			}
			parts, err := a.bounceKit(ctx)
			if err != nil {
				return tempFailError{err}
			}
			p := parts.parseOptions()
			tally := importTally{}
			failed := 0
			var storeErr error
			for _, path := range paths {
				err := p.Each(path, opts.stdin, func(m bounce.Message) {
					if storeErr != nil {
						return
					}
					if m.Err != nil {
						failed++
						fmt.Fprintf(opts.stderr, "bantin: %s: %v\n", m.Place(), m.Err)
						return
					}
					if m.Report.Kind == bounce.NotBounce {
						tally[bounce.Ignored]++
						return
					}
					for _, ev := range m.Report.Events("import", messageID(reportKey(m)), time.Time{}) {
						o, err := parts.policy.Record(ctx, ev)
						if err != nil {
							storeErr = err
							return
						}
						tally[o]++
					}
				})
				if storeErr != nil {
					break
				}
				if err != nil {
					failed++
					fmt.Fprintf(opts.stderr, "bantin: %v\n", err)
				}
			}
			if storeErr != nil {
				fmt.Fprintf(opts.stdout, "bounces import: %s before the store failed\n", tally)
				if transient(storeErr) {
					return tempFailError{fmt.Errorf("bounces import: %w (the message is kept for a later try)", storeErr)}
				}
				return storeErr
			}
			fmt.Fprintf(opts.stdout, "bounces import: %s\n", tally)
			if failed > 0 {
				return failedError{fmt.Sprintf("%d message(s) or file(s) could not be read", failed)}
			}
			return nil
		},
	}
}

// bounceSince reads --since: a duration back from now ("24h", "7d") or
// a time (RFC 3339, or a date and time in loc).
func bounceSince(s string, now time.Time, loc *time.Location) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		var days int
		if _, err := fmt.Sscanf(n, "%d", &days); err == nil && fmt.Sprint(days) == n && days >= 0 {
			return now.Add(-time.Duration(days) * 24 * time.Hour), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	for _, layout := range []string{time.RFC3339, "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("--since %q: want a duration back from now (24h, 7d) or a time (2026-03-28, 2026-03-28T08:00:00+07:00)", s)
}

// bounceKinds are the kinds a record can have.
var bounceKinds = []string{string(bounce.Hard), string(bounce.Soft), string(bounce.Complaint)}

func newBouncesListCmd(opts *options) *cobra.Command {
	var since, kind string
	var limit int
	cmd := &cobra.Command{
		Use:   "list [--since DURATION|TIME] [--kind KIND]",
		Short: "List the bounces and complaints recorded, newest first",
		Long: `One record a line: time, kind (hard, soft, complaint), source (import, imap,
ses, mailgun, postmark, sendgrid, smtp), address, list (when the return path
named the issue), status (the enhanced status code), what it did (counted,
bounced, unsubscribed) and the reason.`,
		Example: `  bantin bounces list --since 24h
  bantin bounces list --since 2026-03-01 --kind complaint`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			q := store.BounceQuery{Kind: kind, Limit: limit}
			if kind != "" && !slices.Contains(bounceKinds, kind) {
				return usageError{fmt.Errorf("--kind %q: want one of %s", kind, strings.Join(bounceKinds, ", "))}
			}
			// A bad --since is a usage error before any store is opened;
			// a time without a zone is read in site.timezone.
			if _, err := bounceSince(since, time.Now(), time.UTC); err != nil {
				return usageError{err}
			}
			a, err := openAppReadOnly(ctx, opts)
			if err != nil {
				return err
			}
			defer a.store.Close()
			if q.Since, err = bounceSince(since, time.Now(), a.cfg.Location()); err != nil {
				return usageError{err}
			}
			bs, err := a.store.Bounces(ctx, q)
			if err != nil {
				return err
			}
			return writeBounces(opts.stdout, bs, a.cfg.Location())
		},
	}
	cmd.Flags().StringVar(&since, "since", "", "only records from this long ago (24h, 7d) or this time on")
	cmd.Flags().StringVar(&kind, "kind", "", "only this kind: hard, soft or complaint")
	cmd.Flags().IntVar(&limit, "limit", 100, "at most this many records")
	return cmd
}

// writeBounces prints records as a table.
func writeBounces(w io.Writer, bs []store.Bounce, loc *time.Location) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tKIND\tSOURCE\tADDRESS\tLIST\tSTATUS\tOUTCOME\tREASON")
	for _, b := range bs {
		dash := func(s string) string {
			if s == "" {
				return "-"
			}
			return s
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", b.At.In(loc).Format("2006-01-02 15:04:05"), b.Kind, b.Source,
			b.Email, dash(b.List), dash(b.Status), b.Outcome, dash(b.Reason))
	}
	return tw.Flush()
}
