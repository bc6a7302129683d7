package bounce

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// want is what a fixture must give; Reason is checked to hold the words.
type want struct {
	Kind         Kind
	Recipients   []string // "address kind status"
	Status       string
	Reason       string
	Token        string
	FeedbackType string
	Format       string
}

func summary(rep Report) want {
	w := want{Kind: rep.Kind, Status: rep.Status, Token: rep.Token, FeedbackType: rep.FeedbackType, Format: rep.Format}
	for _, r := range rep.Recipients {
		w.Recipients = append(w.Recipients, strings.TrimSpace(r.Address+" "+string(r.Kind)+" "+r.Status))
	}
	return w
}

func TestParseFixtures(t *testing.T) {
	tests := map[string]want{
		"postfix-user-unknown.eml": {Kind: Hard, Recipients: []string{"Reader.One@example.com hard 5.1.1"}, Status: "5.1.1",
			Reason: "550 5.1.1 <Reader.One@Example.COM>: Recipient address rejected: User unknown", Token: "pf7Qx_1-a", Format: "rfc3464"},
		"postfix-delayed.eml": {Kind: Soft, Recipients: []string{"slow@example.net soft 4.4.1"}, Status: "4.4.1",
			Reason: "Connection timed out", Token: "dl9ZZ", Format: "rfc3464"},
		"exim-two.eml": {Kind: Hard, Recipients: []string{"gone@example.org hard 5.1.1", "full@example.org soft 5.2.2"}, Status: "5.1.1",
			Reason: "550 5.1.1 <gone@example.org>: No such user here", Token: "ex-42", Format: "exim"},
		"exim-nodsn-noaddr-list.eml": {Kind: Hard, Recipients: []string{"nobody@example.org hard"},
			Reason: "Mail delivery failed", Token: "exnl", Format: "x-failed-recipients"},
		"sendmail-multi.eml": {Kind: Hard, Recipients: []string{"nouser@example.com hard 5.1.1", "blocked@example.com soft 5.7.1"}, Status: "5.1.1",
			Reason: "550 5.1.1 <nouser@example.com>... User unknown", Token: "sm.ABC", Format: "rfc3464"},
		"qmail.eml": {Kind: Hard, Recipients: []string{"nobody@example.net hard 5.1.1"}, Status: "5.1.1",
			Reason: "Remote host said: 550 5.1.1 No such mailbox here", Token: "qm_77", Format: "qmail"},
		"qmail-nohost.eml": {Kind: Hard, Recipients: []string{"someone@typo-domain.example hard 5.1.2"}, Status: "5.1.2",
			Reason: "Sorry, I couldn't find any host named typo-domain.example. (#5.1.2)", Token: "qmNH", Format: "qmail"},
		"yahoo.eml": {Kind: Hard, Recipients: []string{"closed.account@yahoo.example hard"},
			Reason: "554: delivery error: dd This user doesn't have a yahoo.example account", Token: "yh-1", Format: "yahoo"},
		"exchange-o365.eml": {Kind: Hard, Recipients: []string{"reader@contoso.example hard 5.1.10"}, Status: "5.1.10",
			Reason: "550 5.1.10 RESOLVER.ADR.RecipientNotFound", Token: "o365tok", Format: "rfc3464"},
		"exchange-2003.eml": {Kind: Hard, Recipients: []string{"Old.Staff@legacy.example.org hard 5.1.1"}, Status: "5.1.1",
			Reason: "#5.1.1", Token: "ex03", Format: "exchange"},
		"gmail-full.eml": {Kind: Soft, Recipients: []string{"busy.reader@gmail.example soft 5.2.2"}, Status: "5.2.2",
			Reason: "552-5.2.2 The email account that you tried to reach is over quota. 552 5.2.2", Token: "gm-full", Format: "rfc3464"},
		"gmail-old-text.eml": {Kind: Hard, Recipients: []string{"lost@example.com hard 5.1.1"}, Status: "5.1.1",
			Reason: "550 5.1.1 The email account that you tried to reach does not exist.", Token: "gmold", Format: "gmail"},
		"ses.eml": {Kind: Hard, Recipients: []string{"nosuch@example.org hard 5.1.1"}, Status: "5.1.1",
			Reason: "550 5.1.1 user unknown", Token: "ses.TOKEN_9", Format: "rfc3464"},
		"arf-abuse.eml": {Kind: Complaint, Recipients: []string{"Angry.Reader@fbl.example.net complaint"},
			Reason: "FW: Ban tin sang", Token: "arfTok-1", FeedbackType: "abuse", Format: "arf"},
		"arf-redacted.eml": {Kind: Complaint, Recipients: []string{"reader2@mail.example.com complaint"},
			Reason: "complaint about message", Token: "redact.ed", FeedbackType: "abuse", Format: "arf"},
		"autoreply-ooo.eml":      {Kind: AutoReply, Recipients: []string{"vana@example.com auto-reply"}, Token: "ooo1", Format: "auto-reply"},
		"autoreply-vi.eml":       {Kind: AutoReply, Recipients: []string{"binh@example.vn auto-reply"}, Token: "vi-ooo", Format: "auto-reply"},
		"autoreply-vacation.eml": {Kind: AutoReply, Recipients: []string{"c@example.org auto-reply"}, Token: "vac", Format: "auto-reply"},
		"ordinary.eml":           {Kind: NotBounce, Token: "ord"},
		"dsn-delivered.eml":      {Kind: NotBounce, Token: "ok", Format: "rfc3464"},
		"qmail-queue-expired.eml": {Kind: Soft, Recipients: []string{"patient@example.org soft"},
			Reason: "in the queue too long", Token: "qmQ", Format: "qmail"},
		"global-dsn-utf8.eml": {Kind: Hard, Recipients: []string{"người.dùng@ví-dụ.example hard 5.1.1"}, Status: "5.1.1",
			Reason: "550 5.1.1 user unknown", Token: "eai.1", Format: "rfc3464"},
		"exim-delay-warning.eml": {Kind: Soft, Recipients: []string{"waiting@example.com soft 4.7.1"}, Status: "4.7.1",
			Reason: "451 4.7.1 Greylisted", Token: "exdw", Format: "exim"},
		"noaddress-returned-copy.eml": {Kind: Hard, Recipients: []string{"Doc.Gia@example.net hard 5.1.1"}, Status: "5.1.1",
			Reason: "550 5.1.1 mailbox unavailable", Token: "copy-7", Format: "text"},
		"noaddress.eml": {Kind: Hard, Status: "5.1.1", Reason: "The server said: 550 5.1.1 Mailbox unavailable",
			Token: "onlyVERP-xyz", Format: "text"},
	}
	files, err := filepath.Glob("testdata/*.eml")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if _, ok := tests[filepath.Base(f)]; !ok {
			t.Errorf("%s has no expectation in the table", f)
		}
	}
	for name, w := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			for _, variant := range []struct {
				name string
				data []byte
			}{{"lf", data}, {"crlf", bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))}} {
				rep, err := Parse(bytes.NewReader(variant.data))
				if err != nil {
					t.Fatalf("%s: %v", variant.name, err)
				}
				got := summary(rep)
				wantReason := w.Reason
				got.Reason, w.Reason = "", ""
				if diff := cmp.Diff(w, got); diff != "" {
					t.Errorf("%s (-want +got):\n%s", variant.name, diff)
				}
				w.Reason = wantReason
				if !strings.Contains(rep.Reason, wantReason) {
					t.Errorf("%s: Reason = %q, want it to hold %q", variant.name, rep.Reason, wantReason)
				}
				checkReport(t, rep)
			}
		})
	}
}

// checkReport holds what every report must be, whatever the input.
func checkReport(t *testing.T, rep Report) {
	t.Helper()
	switch rep.Kind {
	case Hard, Soft, Complaint, AutoReply, NotBounce:
	default:
		t.Errorf("Kind = %q", rep.Kind)
	}
	texts := []string{rep.Reason, rep.Status, rep.Token, rep.FeedbackType}
	for _, r := range rep.Recipients {
		texts = append(texts, r.Address, r.Reason, r.Status)
		at := strings.LastIndexByte(r.Address, '@')
		if at <= 0 || r.Address[at+1:] != strings.ToLower(r.Address[at+1:]) {
			t.Errorf("recipient %q: want local@domain with the domain in lower case", r.Address)
		}
	}
	for _, s := range texts {
		if !utf8.ValidString(s) || strings.ContainsAny(s, "\r\n\t") || utf8.RuneCountInString(s) > MaxReason {
			t.Errorf("%q: want one line of valid UTF-8, at most %d runes", s, MaxReason)
		}
	}
	if len(rep.Recipients) > maxRecipients {
		t.Errorf("%d recipients, want at most %d", len(rep.Recipients), maxRecipients)
	}
}

func TestToken(t *testing.T) {
	msg := func(deliveredTo string) string {
		return "Delivered-To: " + deliveredTo + "\nFrom: MAILER-DAEMON@x.example\nSubject: failure notice\n\n" +
			"Hi. This is the qmail-send program.\n\n<a@example.org>:\n550 5.1.1 no\n"
	}
	for _, tc := range []struct {
		prefix, to, want string
	}{
		{"", "bounces+AbC-_.9=@news.example.vn", "AbC-_.9="},
		{"", "BOUNCES+tok@news.example.vn", "tok"}, // an MTA that folds the local part
		{"", "bounce+tok@news.example.vn", ""},
		{"", "bounces@news.example.vn", ""},
		{"", "bounces+@news.example.vn", ""},
		{"", "bounces+to%6Bk@news.example.vn", ""}, // not URL-safe
		{"", "bounces+" + strings.Repeat("a", maxToken+1) + "@news.example.vn", ""},
		{"ret", "ret+xyz@news.example.vn", "xyz"},
		{"ret", "bounces+xyz@news.example.vn", ""},
	} {
		rep, err := Options{ReturnPrefix: tc.prefix}.Parse(strings.NewReader(msg(tc.to)))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Token != tc.want {
			t.Errorf("prefix %q, Delivered-To %s: token %q, want %q", tc.prefix, tc.to, rep.Token, tc.want)
		}
	}
}

func TestMessageIDs(t *testing.T) {
	for name, want := range map[string][2]string{
		"postfix-user-unknown.eml": {"20240328010112.9C8D7E6F5A@mail.example.vn", "issue-12.sub-34@news.example.vn"},
		"gmail-full.eml":           {"", "issue-12.sub-99@news.example.vn"},
		"ses.eml":                  {"0100018e8a1b2c3d-bounce@email.amazonses.com", ""},
	} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Parse(bytes.NewReader(data))
		if err != nil {
			t.Fatal(err)
		}
		if got := [2]string{rep.MessageID, rep.OriginalMessageID}; got != want {
			t.Errorf("%s: message ids %q, want %q", name, got, want)
		}
	}
}

func TestTextWithoutCode(t *testing.T) {
	// A notice in no known shape that gives no code is hard only when it
	// says the failure is permanent.
	for _, tc := range []struct {
		body string
		want Kind
	}{
		{"We could not hand your message on.\n\n<x@example.org>: delivery not possible\n", Soft},
		{"This is a permanent failure.\n\n<x@example.org>: delivery not possible\n", Hard},
		{"This is a permanent failure, but the text names no one.\n", Hard},
		{"Something went wrong.\n", Soft},
	} {
		rep, err := Parse(strings.NewReader("From: postmaster@relay.example\nSubject: Notice\n\n" + tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Kind != tc.want || rep.Format != "text" {
			t.Errorf("%q: kind %s format %s, want %s from text", tc.body, rep.Kind, rep.Format, tc.want)
		}
	}
}
