package main

import (
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/subscriber"
	"github.com/bantin/bantin/templates"
)

func newSubscribersCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "subscribers",
		Short: "Add, remove, list, import, export and erase newsletter subscribers",
		Long: `Manage the subscribers of the newsletters named in the config (newsletters:).
LIST is a newsletter id, such as ban-tin-sang.`,
		Example: `  bantin subscribers add ban-tin-sang nu@example.vn --name "Nguyễn Thị Nữ"
  bantin subscribers list ban-tin-sang --status pending
  bantin subscribers import ban-tin-sang readers.csv
  bantin subscribers erase nu@example.vn`,
		Args: cobra.ArbitraryArgs,
		RunE: needsSubcommand,
	}
	cmd.AddCommand(
		newSubscribersAddCmd(opts),
		newSubscribersRemoveCmd(opts),
		newSubscribersListCmd(opts),
		newSubscribersImportCmd(opts),
		newSubscribersExportCmd(opts),
		newSubscribersEraseCmd(opts),
	)
	return cmd
}

// subscribersApp is what the subscribers commands work with: the app, the
// subscriber service and, when mail may leave, the outbox on its transport.
type subscribersApp struct {
	*app
	svc       *subscriber.Service
	outbox    *mail.Outbox
	transport mail.Transport
}

// noMailer stands in for the outbox in commands that never send mail.
type noMailer struct{}

func (noMailer) Enqueue(context.Context, string, int64, mail.Message) (string, error) {
	return "", errors.New("this command sends no mail")
}

// openSubscribers opens the app and builds the subscriber service; with
// withMail, confirmation emails go to the outbox on the config's transport.
func openSubscribers(ctx context.Context, opts *options, withMail bool) (*subscribersApp, error) {
	return openSubscribersOn(ctx, opts, withMail, openApp)
}

// openSubscribersOn is openSubscribers on the app that open opens
// (openAppReadOnly for the commands that only read).
func openSubscribersOn(ctx context.Context, opts *options, withMail bool,
	open func(context.Context, *options) (*app, error)) (*subscribersApp, error) {
	a, err := open(ctx, opts)
	if err != nil {
		return nil, err
	}
	sa := &subscribersApp{app: a}
	tmpl, err := templates.Load(a.cfg.TemplatesDir)
	if err != nil {
		sa.close()
		return nil, fmt.Errorf("templates: %w", err)
	}
	var mailer subscriber.Mailer = noMailer{}
	if withMail {
		if sa.transport, err = a.transport(); err != nil {
			sa.close()
			return nil, fmt.Errorf("mail transport: %w", err)
		}
		sa.outbox = a.outbox(sa.transport, a.logger)
		mailer = sa.outbox
	}
	if sa.svc, err = a.subscribers(ctx, mailer, tmpl); err != nil {
		sa.close()
		return nil, fmt.Errorf("subscriber service: %w", err)
	}
	return sa, nil
}

func (sa *subscribersApp) close() error {
	var terr error
	if sa.transport != nil {
		terr = sa.transport.Close()
	}
	return errors.Join(terr, sa.app.close())
}

// sendDue sends what the outbox has due now, since serve may not run: a
// confirmation email queued by this command leaves at once.
func (sa *subscribersApp) sendDue(ctx context.Context) error {
	if sa.outbox == nil {
		return nil
	}
	for {
		n, err := sa.outbox.SendDue(ctx)
		if err != nil {
			return fmt.Errorf("sending queued mail: %w", err)
		}
		if n == 0 {
			return nil
		}
	}
}

// openListSubscribers is openSubscribers for a command about one list: it
// fails before any work on a list the config does not name.
func openListSubscribers(ctx context.Context, opts *options, list string, withMail bool) (*subscribersApp, error) {
	sa, err := openSubscribers(ctx, opts, withMail)
	if err != nil {
		return nil, err
	}
	if err := sa.checkList(list); err != nil {
		sa.close()
		return nil, err
	}
	return sa, nil
}

// openReadListSubscribers is openListSubscribers for the commands that
// only read (list, export): it never makes a store.
func openReadListSubscribers(ctx context.Context, opts *options, list string) (*subscribersApp, error) {
	sa, err := openSubscribersOn(ctx, opts, false, openAppReadOnly)
	if err != nil {
		return nil, err
	}
	if err := sa.checkList(list); err != nil {
		sa.close()
		return nil, err
	}
	return sa, nil
}

// checkList fails on a list the config does not name, with the ids it does.
func (sa *subscribersApp) checkList(list string) error {
	var ids []string
	for _, l := range sa.svc.Lists() {
		if l.ID == list {
			return nil
		}
		ids = append(ids, l.ID)
	}
	return listError(&article.FieldError{Field: "list", Reason: fmt.Sprintf("no newsletter %q", list)}, ids)
}

// listError adds to an unknown-list error the ids the config names.
func listError(err error, ids []string) error {
	var fe *article.FieldError
	if !errors.As(err, &fe) || fe.Field != "list" {
		return err
	}
	if len(ids) == 0 {
		return fmt.Errorf("%s; the config names no newsletters (add them under newsletters:)", fe.Reason)
	}
	return fmt.Errorf("%s; the configured newsletters are: %s", fe.Reason, strings.Join(ids, ", "))
}

// addResult is what adding one address to a list did.
type addResult int

const (
	addedConfirmed addResult = iota // now confirmed
	addedPending                    // pending; a confirmation email was queued
	addedBounced                    // pending, but the address bounced: no email
	alreadyThere                    // was confirmed already
	addedNoResend                   // pending; a confirmation went within subscribe.confirm_resend, none now
)

// add subscribes one address to a list, telling apart what happened by
// the list's status before and after.
func (sa *subscribersApp) add(ctx context.Context, list, email, name string, confirmed bool) (store.Subscriber, addResult, error) {
	if prior, err := sa.store.SubscriberByEmail(ctx, email); err == nil && prior.Lists[list] == store.Confirmed {
		return prior, alreadyThere, nil
	} else if err != nil && !errors.Is(err, store.ErrNotFound) {
		return store.Subscriber{}, 0, fmt.Errorf("looking up %s: %w", email, err)
	}
	if !confirmed {
		// The sign-up path, to learn whether an email went out.
		out, err := sa.svc.Subscribe(ctx, subscriber.SignUp{Email: email, Name: name, Lists: []string{list}})
		switch {
		case err != nil:
			return store.Subscriber{}, 0, err
		case out.Subscriber.Lists[list] == store.Confirmed:
			return out.Subscriber, addedConfirmed, nil
		case out.Subscriber.Bounced:
			return out.Subscriber, addedBounced, nil
		case !out.Emailed:
			return out.Subscriber, addedNoResend, nil
		}
		return out.Subscriber, addedPending, nil
	}
	sub, _, err := sa.svc.Add(ctx, list, email, name, confirmed)
	if err != nil {
		return store.Subscriber{}, 0, err
	}
	switch {
	case sub.Lists[list] == store.Confirmed:
		return sub, addedConfirmed, nil
	case sub.Bounced:
		return sub, addedBounced, nil
	}
	return sub, addedPending, nil
}

func newSubscribersAddCmd(opts *options) *cobra.Command {
	var name string
	var confirmed bool
	cmd := &cobra.Command{
		Use:   "add LIST EMAIL [--name N] [--confirmed]",
		Short: "Subscribe one address to a newsletter",
		Long: `Subscribe one address to a newsletter. With subscribe.double_opt_in (the
default) the subscription waits for the link in a confirmation email, which
is sent at once (to data/outbox as .eml files with the default file
transport). --confirmed skips the email: use it only for people who already
agreed to receive the newsletter.`,
		Example: `  bantin subscribers add ban-tin-sang nu@example.vn --name "Nguyễn Thị Nữ"
  bantin subscribers add ban-tin-sang nu@example.vn --confirmed`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			list, email := a[0], a[1]
			ctx := cmd.Context()
			sa, err := openListSubscribers(ctx, opts, list, !confirmed)
			if err != nil {
				return err
			}
			defer sa.close()
			clean, err := subscriber.CleanEmail(email)
			if err != nil {
				return err
			}
			sub, res, err := sa.add(ctx, list, clean, name, confirmed)
			if err != nil {
				return fmt.Errorf("add %s to %s: %w", clean, list, err)
			}
			if err := sa.sendDue(ctx); err != nil {
				return err
			}
			switch res {
			case alreadyThere:
				fmt.Fprintf(opts.stdout, "%s is already on %s\n", sub.Email, list)
			case addedConfirmed:
				fmt.Fprintf(opts.stdout, "added %s to %s (confirmed)\n", sub.Email, list)
			case addedBounced:
				fmt.Fprintf(opts.stdout, "added %s to %s (pending; no confirmation email: the address bounced)\n", sub.Email, list)
			case addedNoResend:
				fmt.Fprintf(opts.stdout, "added %s to %s (pending; no confirmation email now: one went to this address within subscribe.confirm_resend)\n", sub.Email, list)
			default:
				fmt.Fprintf(opts.stdout, "added %s to %s (confirmation email sent)\n", sub.Email, list)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "the subscriber's name")
	cmd.Flags().BoolVar(&confirmed, "confirmed", false, "confirmed at once, without a confirmation email")
	return cmd
}

func newSubscribersRemoveCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "remove LIST EMAIL",
		Short: "Unsubscribe an address from a newsletter",
		Long: `Unsubscribe an address from one newsletter. The subscriber and their other
newsletters stay, and the list remembers that they left; to delete every
trace of a person, use bantin subscribers erase.`,
		Example: `  bantin subscribers remove ban-tin-sang nu@example.vn`,
		Args:    args(2, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			list, email := a[0], strings.TrimSpace(a[1])
			ctx := cmd.Context()
			sa, err := openListSubscribers(ctx, opts, list, false)
			if err != nil {
				return err
			}
			defer sa.close()
			prior, err := sa.store.SubscriberByEmail(ctx, email)
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("looking up %s: %w", email, err)
			}
			if err == nil && prior.Lists[list] == store.Unsubscribed {
				fmt.Fprintf(opts.stdout, "%s already left %s\n", prior.Email, list)
				return nil
			}
			err = sa.svc.Remove(ctx, list, email)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("%s is not on %s; bantin subscribers list %s shows who is", email, list, list)
			}
			if err != nil {
				return fmt.Errorf("remove %s from %s: %w", email, list, err)
			}
			fmt.Fprintf(opts.stdout, "removed %s from %s\n", email, list)
			return nil
		},
	}
}

func newSubscribersListCmd(opts *options) *cobra.Command {
	var status string
	cmd := &cobra.Command{
		Use:   "list LIST [--status confirmed|pending|unsubscribed]",
		Short: "List a newsletter's subscribers: email, name, status, bounced",
		Long: `List the subscribers of a newsletter with one status (confirmed by default),
by address, one a line: email, name ("-" for none), status, and "bounced"
for an address that reached subscribe.bounce_limit and gets no more mail.`,
		Example: `  bantin subscribers list ban-tin-sang
  bantin subscribers list ban-tin-sang --status pending`,
		Args: args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			list := a[0]
			st := store.SubscriptionStatus(status)
			switch st {
			case store.Confirmed, store.Pending, store.Unsubscribed:
			default:
				return usageError{fmt.Errorf("--status must be confirmed, pending or unsubscribed, got %q", status)}
			}
			ctx := cmd.Context()
			sa, err := openReadListSubscribers(ctx, opts, list)
			if err != nil {
				return err
			}
			defer sa.close()
			subs, err := sa.svc.Members(ctx, list, st)
			if err != nil {
				return fmt.Errorf("subscribers of %s: %w", list, err)
			}
			tw := tabwriter.NewWriter(opts.stdout, 0, 4, 2, ' ', 0)
			for _, s := range subs {
				name := s.Name
				if name == "" {
					name = "-"
				}
				mark := ""
				if s.Bounced {
					mark = "\tbounced"
				}
				fmt.Fprintf(tw, "%s\t%s\t%s%s\n", s.Email, name, st, mark)
			}
			return tw.Flush()
		},
	}
	cmd.Flags().StringVar(&status, "status", string(store.Confirmed), "confirmed, pending or unsubscribed")
	return cmd
}

// csvRow is one record of an import file with its line.
type csvRow struct {
	line   int
	fields []string
	err    error
}

// readCSV reads every record of an import file; a record that does not
// parse is kept with its error so that the rest still goes in.
func readCSV(r io.Reader) ([]csvRow, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	var rows []csvRow
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			line := pe.StartLine
			if line == 0 {
				line = pe.Line
			}
			rows = append(rows, csvRow{line: line, err: pe.Err})
			continue
		}
		if err != nil {
			return rows, err
		}
		line, _ := cr.FieldPos(0)
		rows = append(rows, csvRow{line: line, fields: rec})
	}
}

func newSubscribersImportCmd(opts *options) *cobra.Command {
	var confirmed bool
	cmd := &cobra.Command{
		Use:   "import LIST FILE.csv [--confirmed]",
		Short: "Subscribe the addresses of a CSV file (email,name) to a newsletter",
		Long: `Subscribe every address of a CSV file to a newsletter. Each row is
email,name; the name column is optional, and a first row whose first field
is "email" is a header and skipped. An address given twice (without regard
to case) or already on the list is merged, not an error. A bad row is
reported as FILE:LINE: reason and the others still go in; the exit status
is then 1. People who left the list are not added back (use
bantin subscribers add for one who asks).

Without --confirmed each new subscriber gets a confirmation email (with
subscribe.double_opt_in), sent at the end. Use --confirmed only for people
who already agreed to receive the newsletter.`,
		Example: `  bantin subscribers import ban-tin-sang readers.csv
  bantin subscribers import ban-tin-sang old-list.csv --confirmed`,
		Args: args(2, 2),
		RunE: func(cmd *cobra.Command, a []string) error {
			list, file := a[0], a[1]
			ctx := cmd.Context()
			sa, err := openListSubscribers(ctx, opts, list, !confirmed)
			if err != nil {
				return err
			}
			defer sa.close()
			f, err := os.Open(file)
			if err != nil {
				return fmt.Errorf("import: %w", err)
			}
			rows, err := readCSV(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("import %s: %w", file, err)
			}
			if len(rows) > 0 && rows[0].err == nil && len(rows[0].fields) > 0 &&
				strings.EqualFold(strings.TrimSpace(strings.TrimPrefix(rows[0].fields[0], "\ufeff")), "email") {
				rows = rows[1:]
			}

			var added, already, rejected int
			var notes []string
			reject := func(line int, reason string) {
				rejected++
				notes = append(notes, fmt.Sprintf("%s:%d: %s", file, line, reason))
			}
			seen := map[string]bool{}
			bar := newProgress(opts.stderr, int64(len(rows)), "importing", "rows")
			var fatal error
			for _, row := range rows {
				bar.add(1)
				if row.err != nil {
					reject(row.line, row.err.Error())
					continue
				}
				if len(row.fields) > 2 {
					reject(row.line, plural(len(row.fields), "field", "fields")+"; want email,name")
					continue
				}
				email, err := subscriber.CleanEmail(strings.TrimPrefix(row.fields[0], "\ufeff"))
				if err != nil {
					reject(row.line, reason(err))
					continue
				}
				name := ""
				if len(row.fields) > 1 {
					if name, err = subscriber.CleanName(row.fields[1]); err != nil {
						reject(row.line, reason(err))
						continue
					}
				}
				key := strings.ToLower(email)
				if seen[key] {
					already++
					continue
				}
				seen[key] = true
				prior, err := sa.store.SubscriberByEmail(ctx, email)
				if err != nil && !errors.Is(err, store.ErrNotFound) {
					fatal = fmt.Errorf("%s:%d: looking up %s: %w", file, row.line, email, err)
					break
				}
				if err == nil {
					switch status := prior.Lists[list]; {
					case status == store.Confirmed, status == store.Pending && !confirmed:
						already++
						continue
					case status == store.Unsubscribed:
						already++
						notes = append(notes, fmt.Sprintf("%s:%d: %s left %s; not added back", file, row.line, email, list))
						continue
					}
				}
				if _, _, err := sa.add(ctx, list, email, name, confirmed); err != nil {
					var fe *article.FieldError
					if errors.As(err, &fe) {
						reject(row.line, reason(err))
						continue
					}
					fatal = fmt.Errorf("%s:%d: add %s: %w", file, row.line, email, err)
					break
				}
				added++
			}
			bar.finish()
			for _, n := range notes {
				fmt.Fprintln(opts.stderr, n)
			}
			if err := sa.sendDue(ctx); err != nil && fatal == nil {
				fatal = err
			}
			fmt.Fprintf(opts.stdout, "%d added, %d already there, %d rejected (%s)\n", added, already, rejected, plural(len(rows), "row", "rows"))
			if fatal != nil {
				return fatal
			}
			if rejected > 0 {
				return failedError{plural(rejected, "row", "rows") + " rejected"}
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&confirmed, "confirmed", false, "confirmed at once, without confirmation emails")
	return cmd
}

// reason is a field error's reason alone, else the error's text.
func reason(err error) string {
	var fe *article.FieldError
	if errors.As(err, &fe) {
		return fe.Reason
	}
	return err.Error()
}

func newSubscribersExportCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "export LIST",
		Short: "Print a newsletter's confirmed subscribers as CSV (email,name)",
		Long: `Print the confirmed subscribers of a newsletter as CSV on standard output: a
header row "email,name", then one subscriber a row, by address. The file
imports back with bantin subscribers import.`,
		Example: `  bantin subscribers export ban-tin-sang > ban-tin-sang.csv`,
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			list := a[0]
			ctx := cmd.Context()
			sa, err := openReadListSubscribers(ctx, opts, list)
			if err != nil {
				return err
			}
			defer sa.close()
			subs, err := sa.svc.Members(ctx, list, store.Confirmed)
			if err != nil {
				return fmt.Errorf("subscribers of %s: %w", list, err)
			}
			w := csv.NewWriter(opts.stdout)
			if err := w.Write([]string{"email", "name"}); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			for _, s := range subs {
				if err := w.Write([]string{s.Email, s.Name}); err != nil {
					return fmt.Errorf("export: %w", err)
				}
			}
			w.Flush()
			if err := w.Error(); err != nil {
				return fmt.Errorf("export: %w", err)
			}
			return nil
		},
	}
}

func newSubscribersEraseCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "erase EMAIL",
		Short: "Delete every trace of a person (not just unsubscribe)",
		Long: `Delete a subscriber for good: the address, name, every subscription,
preferences and mail still queued for them. Use it when a person asks to
be forgotten; bantin subscribers remove only unsubscribes from one list.`,
		Example: `  bantin subscribers erase nu@example.vn`,
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			email := strings.TrimSpace(a[0])
			ctx := cmd.Context()
			sa, err := openSubscribers(ctx, opts, false)
			if err != nil {
				return err
			}
			defer sa.close()
			err = sa.svc.Erase(ctx, email)
			if errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("no subscriber %s", email)
			}
			if err != nil {
				return fmt.Errorf("erase %s: %w", email, err)
			}
			fmt.Fprintf(opts.stdout, "erased every trace of %s\n", email)
			return nil
		},
	}
}
