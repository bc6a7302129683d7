package mail

import (
	"bytes"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/mail"
	"regexp"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"
)

// vietnamese returns a message whose text is in decomposed form (NFD), so
// the tests see whether Build recomposes it.
func vietnamese(to string) Message {
	return Message{
		From:      mail.Address{Name: norm.NFD.String(`Bản tin "sáng"`), Address: "news@example.vn"},
		ReplyTo:   &mail.Address{Name: "Ban biên tập", Address: "editor@example.vn"},
		To:        mail.Address{Name: norm.NFD.String("Nguyễn Văn A"), Address: to},
		Subject:   norm.NFD.String("Bản tin sáng"),
		Text:      norm.NFD.String("Xin chào,\nBản tin sáng hôm nay.\n"),
		HTML:      norm.NFD.String("<p>Xin chào,</p>\n<p>Bản tin <b>sáng</b> hôm nay.</p>\n"),
		MessageID: "issue-7.sub-3@example.vn",
		Date:      time.Date(2024, 3, 28, 0, 30, 0, 0, time.UTC),
		Headers: map[string]string{
			"List-Id":               "Bản tin sáng <sang.example.vn>",
			"List-Unsubscribe":      "<https://example.vn/unsubscribe/abc123>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		},
	}
}

// checkMessage parses raw back and compares it with what vietnamese(to)
// should produce, in loc.
func checkMessage(t *testing.T, raw []byte, to string, loc *time.Location) {
	t.Helper()
	for i := range raw {
		if raw[i] == '\n' && (i == 0 || raw[i-1] != '\r') {
			t.Fatalf("bare LF at byte %d: %q", i, raw[max(0, i-30):i+1])
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatalf("parse message: %v", err)
	}
	var dec mime.WordDecoder
	subject, err := dec.DecodeHeader(msg.Header.Get("Subject"))
	if err != nil {
		t.Fatalf("decode subject %q: %v", msg.Header.Get("Subject"), err)
	}
	listID, err := dec.DecodeHeader(msg.Header.Get("List-Id"))
	if err != nil {
		t.Fatalf("decode List-Id: %v", err)
	}
	from, err := mail.ParseAddress(msg.Header.Get("From"))
	if err != nil {
		t.Fatalf("parse From %q: %v", msg.Header.Get("From"), err)
	}
	toAddr, err := mail.ParseAddress(msg.Header.Get("To"))
	if err != nil {
		t.Fatalf("parse To %q: %v", msg.Header.Get("To"), err)
	}
	replyTo, err := mail.ParseAddress(msg.Header.Get("Reply-To"))
	if err != nil {
		t.Fatalf("parse Reply-To %q: %v", msg.Header.Get("Reply-To"), err)
	}
	date, err := msg.Header.Date()
	if err != nil {
		t.Fatalf("parse Date: %v", err)
	}
	_, offset := date.Zone()
	_, wantOffset := time.Date(2024, 3, 28, 0, 30, 0, 0, loc).Zone()

	for _, c := range []struct{ name, got, want string }{
		{"Subject", subject, "Bản tin sáng"},
		{"Subject is NFC", subject, norm.NFC.String(subject)},
		{"From name", from.Name, `Bản tin "sáng"`},
		{"From address", from.Address, "news@example.vn"},
		{"To name", toAddr.Name, "Nguyễn Văn A"},
		{"To address", toAddr.Address, to},
		{"Reply-To", replyTo.String(), (&mail.Address{Name: "Ban biên tập", Address: "editor@example.vn"}).String()},
		{"Message-Id", msg.Header.Get("Message-Id"), "<issue-7.sub-3@example.vn>"},
		{"List-Id", listID, "Bản tin sáng <sang.example.vn>"},
		{"List-Unsubscribe", msg.Header.Get("List-Unsubscribe"), "<https://example.vn/unsubscribe/abc123>"},
		{"List-Unsubscribe-Post", msg.Header.Get("List-Unsubscribe-Post"), "List-Unsubscribe=One-Click"},
		{"Bcc", msg.Header.Get("Bcc"), ""},
	} {
		if c.got != c.want {
			t.Errorf("%s = %q, want %q", c.name, c.got, c.want)
		}
	}
	if !date.Equal(time.Date(2024, 3, 28, 0, 30, 0, 0, time.UTC)) || offset != wantOffset {
		t.Errorf("Date = %v, want 2024-03-28 00:30 UTC shown with offset %d", date, wantOffset)
	}

	mediaType, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type = %q (%v), want multipart/alternative", msg.Header.Get("Content-Type"), err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	wantParts := []struct{ typ, body string }{
		{"text/plain", "Xin chào,\r\nBản tin sáng hôm nay.\r\n"},
		{"text/html", "<p>Xin chào,</p>\r\n<p>Bản tin <b>sáng</b> hôm nay.</p>\r\n"},
	}
	for i, want := range wantParts {
		p, err := mr.NextPart()
		if err != nil {
			t.Fatalf("part %d: %v", i, err)
		}
		typ, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		b, err := io.ReadAll(p)
		if err != nil {
			t.Fatalf("read part %d: %v", i, err)
		}
		if typ != want.typ {
			t.Errorf("part %d type = %q, want %q", i, typ, want.typ)
		}
		if got := string(b); got != want.body {
			t.Errorf("part %d body = %q, want %q", i, got, want.body)
		}
	}
	if _, err := mr.NextPart(); err != io.EOF {
		t.Errorf("after two parts: %v, want io.EOF", err)
	}
}

func TestRender(t *testing.T) {
	loc, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	if err != nil {
		t.Skipf("no tzdata: %v", err)
	}
	raw, err := Render(vietnamese("a@example.com"), loc)
	if err != nil {
		t.Fatal(err)
	}
	checkMessage(t, raw, "a@example.com", loc)
	for _, want := range []string{
		"Date: Thu, 28 Mar 2024 07:30:00 +0700\r\n",
		// The list id stays literal; only the phrase is encoded (RFC 2919).
		"List-Id: =?UTF-8?q?B=E1=BA=A3n_tin_s=C3=A1ng?= <sang.example.vn>\r\n",
	} {
		if !bytes.Contains(raw, []byte(want)) {
			t.Errorf("no %q in\n%s", want, raw)
		}
	}
	again, err := Render(vietnamese("a@example.com"), loc)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(raw, again) {
		t.Errorf("two renders of the same message differ:\n%s\n%s", raw, again)
	}
}

func TestRenderMessageID(t *testing.T) {
	generatedID := regexp.MustCompile(`^<[0-9a-f]{32}@example\.vn>$`)
	tests := []struct {
		name, id, want string
	}{
		{"given", "issue-7.sub-3@example.vn", "<issue-7.sub-3@example.vn>"},
		{"given with brackets", "<x@example.vn>", "<x@example.vn>"},
		{"generated on the sender's domain", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := vietnamese("a@example.com")
			m.MessageID = tt.id
			raw, err := Render(m, nil)
			if err != nil {
				t.Fatal(err)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			got := msg.Header.Get("Message-Id")
			if tt.want == "" {
				if !generatedID.MatchString(got) {
					t.Errorf("Message-Id = %q, want <32 hex digits@example.vn>", got)
				}
				return
			}
			if got != tt.want {
				t.Errorf("Message-Id = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestRenderRejectsInjection(t *testing.T) {
	tests := []struct {
		name   string
		change func(*Message)
	}{
		{"subject CRLF", func(m *Message) { m.Subject = "Hi\r\nBcc: victim@example.com" }},
		{"subject LF", func(m *Message) { m.Subject = "Hi\nBcc: victim@example.com" }},
		{"subject CR", func(m *Message) { m.Subject = "Hi\rBcc: victim@example.com" }},
		{"to name", func(m *Message) { m.To.Name = "Eve\r\nBcc: victim@example.com" }},
		{"to address", func(m *Message) { m.To.Address = "eve@example.com\r\nBcc: victim@example.com" }},
		{"to address two", func(m *Message) { m.To.Address = "eve@example.com, victim@example.com" }},
		{"from name", func(m *Message) { m.From.Name = "News\nBcc: victim@example.com" }},
		{"reply-to name", func(m *Message) { m.ReplyTo.Name = "Ed\r\nX-Evil: 1" }},
		{"header value", func(m *Message) { m.Headers["List-Id"] = "a\r\nBcc: victim@example.com" }},
		{"header name colon", func(m *Message) { m.Headers["X-A: b\r\nBcc"] = "x" }},
		{"header name space", func(m *Message) { m.Headers["X A"] = "x" }},
		{"reserved header", func(m *Message) { m.Headers["bcc"] = "victim@example.com" }},
		{"reserved content-type", func(m *Message) { m.Headers["Content-Type"] = "text/plain" }},
		{"message id newline", func(m *Message) { m.MessageID = "a@b\r\nBcc: victim@example.com" }},
		{"message id no domain", func(m *Message) { m.MessageID = "abc" }},
		{"NUL in subject", func(m *Message) { m.Subject = "a\x00b" }},
		{"no to", func(m *Message) { m.To.Address = "" }},
		{"bad from", func(m *Message) { m.From.Address = "not an address" }},
		{"no date", func(m *Message) { m.Date = time.Time{} }},
		{"no text", func(m *Message) { m.Text = "" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := vietnamese("a@example.com")
			tt.change(&m)
			raw, err := Render(m, nil)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Render error = %v, want ErrInvalid; output:\n%s", err, raw)
			}
		})
	}
}
