package main

import (
	"encoding/json"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/bantin/bantin/internal/bounce"
)

func newBouncesCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "bounces",
		Short: "Read bounce messages, complaints and automatic replies",
		Long: `Work with the emails that come back to the return path: delivery failure
notices, spam complaints (feedback reports) and automatic replies.`,
		Example: `  bantin bounces parse returned.eml
  bantin bounces parse ~/Maildir/.Bounces bounces.mbox`,
		Args: cobra.ArbitraryArgs,
		RunE: needsSubcommand,
	}
	cmd.AddCommand(newBouncesParseCmd(opts))
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
						where := m.Path
						if m.Index > 0 {
							where = fmt.Sprintf("%s message %d", m.Path, m.Index)
						}
						fmt.Fprintf(opts.stderr, "bantin: %s: %v\n", where, m.Err)
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
