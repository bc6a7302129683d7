package mail

import (
	"bytes"
	"crypto/sha256"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// bulkOf is vietnamese(to) with its personal parts as placeholders.
func bulkOf(t *testing.T, loc *time.Location) *Bulk {
	t.Helper()
	m := vietnamese("")
	b, err := NewBulk(BulkMessage{
		From: m.From, ReplyTo: m.ReplyTo, Subject: m.Subject,
		Text: norm.NFD.String("Xin chào,\nBản tin ZZWORD hôm nay.\n"),
		HTML: norm.NFD.String("<p>Xin chào,</p>\n<p>Bản tin <b>ZZHTML</b> hôm nay.</p>\n"),
		Headers: map[string]string{
			"List-Id":               m.Headers["List-Id"],
			"List-Unsubscribe":      "<ZZLINK>",
			"List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
		},
	}, []string{"ZZWORD", "ZZHTML", "ZZLINK"}, loc)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBulkCopyIsTheMessage: a copy with its values in place is, read by a
// mail parser, the message Render makes of the same content.
func TestBulkCopyIsTheMessage(t *testing.T) {
	for _, loc := range []*time.Location{time.UTC, mustLoad(t, "Asia/Ho_Chi_Minh")} {
		b := bulkOf(t, loc)
		to := vietnamese("a@example.com").To
		values := []string{norm.NFD.String("sáng"), "", "https://example.vn/unsubscribe/abc123"}
		html := []string{"", norm.NFD.String("sáng"), "https://example.vn/unsubscribe/abc123"}
		cp, err := b.CopyMessage(to, "issue-7.sub-3@example.vn", time.Date(2024, 3, 28, 0, 30, 0, 0, time.UTC), values, html)
		if err != nil {
			t.Fatal(err)
		}
		raw := cp.Raw
		checkMessage(t, raw, "a@example.com", loc)
	}
}

// TestBulkPersonalLines: long personal lines, characters QP must encode
// and values with line breaks or control characters.
func TestBulkPersonalLines(t *testing.T) {
	long := strings.Repeat("Nguyễn Thị Ngọc Nữ = ", 8)
	b, err := NewBulk(BulkMessage{
		From: mail.Address{Address: "news@example.vn"}, Subject: "Bản tin",
		Text: "Đầu\nXin chào ZZNAME, cuối dòng có khoảng trắng \n.dòng chấm\nCuối",
		HTML: "<p>Xin chào ZZNAME</p>",
	}, []string{"ZZNAME"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	date := time.Date(2024, 3, 28, 0, 30, 0, 0, time.UTC)
	cp, err := b.CopyMessage(mail.Address{Name: long, Address: "nu@example.vn"}, "", date, []string{long}, []string{long})
	if err != nil {
		t.Fatal(err)
	}
	raw := cp.Raw
	for _, line := range strings.Split(string(raw), "\r\n") {
		if len(line) > 998 {
			t.Errorf("a line of %d bytes", len(line))
		}
	}
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	// In To the name is cut to 100 runes; the body has it whole.
	toAddr, err := mail.ParseAddress(msg.Header.Get("To"))
	if want := string([]rune(long)[:maxDisplayName]); err != nil || toAddr.Name != want {
		t.Errorf("To = %q (%v); want the name's first %d runes", msg.Header.Get("To"), err, maxDisplayName)
	}
	_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	mr := multipart.NewReader(msg.Body, params["boundary"])
	part, err := mr.NextPart()
	if err != nil {
		t.Fatal(err)
	}
	text, _ := io.ReadAll(part)
	if want := "Đầu\r\nXin chào " + long + ", cuối dòng có khoảng trắng \r\n.dòng chấm\r\nCuối"; string(text) != want {
		t.Errorf("text part = %q\nwant %q", text, want)
	}
	for _, bad := range []string{"a\r\nBcc: x@example.com", "a\x00b"} {
		if _, err := b.CopyMessage(mail.Address{Address: "nu@example.vn"}, "", date, []string{bad}, []string{bad}); err == nil {
			t.Errorf("a value with %q was accepted", bad)
		}
	}
	if _, err := b.CopyMessage(mail.Address{Address: "nu@example.vn\r\nBcc: x@example.com"}, "", date, []string{""}, []string{""}); err == nil {
		t.Error("a recipient with CRLF was accepted")
	}
}

func mustLoad(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// FuzzBulk: whatever the parts and a reader's value hold, a copy is a
// message a mail parser reads back to the parts with the value in place,
// or an error; never a broken message.
func FuzzBulk(f *testing.F) {
	f.Add("Xin chào ZZNAME,\n.dòng chấm\n", "<p>ZZNAME</p>", "Ngọc Nữ")
	f.Add("a=b \t\nZZNAME"+strings.Repeat("x", 200), "", "=?utf-8?q?x?=")
	f.Add("--bantin-\r\nZZNAME\r\n", "<b>ZZNAME</b>\r", "Bcc: x")
	f.Fuzz(func(t *testing.T, text, html, value string) {
		if text == "" || !utf8.ValidString(text+html+value) {
			return
		}
		b, err := NewBulk(BulkMessage{From: mail.Address{Name: "Báo Mẫu", Address: "news@example.vn"}, Subject: "Bản tin",
			Text: text, HTML: html}, []string{"ZZNAME"}, nil)
		if err != nil {
			return
		}
		m, err := b.CopyMessage(mail.Address{Name: value, Address: "nu@example.vn"}, "", time.Date(2024, 3, 28, 0, 30, 0, 0, time.UTC), []string{value}, []string{value})
		if err != nil {
			return
		}
		raw := m.Raw
		if _, body := splitMessage(raw); m.RawCanonical {
			// Signed as it is: canonicalizing it must change nothing.
			if sum, bare := hashBody(body); bare || sum != sha256.Sum256(body) {
				t.Fatalf("a copy said canonical is not (bare line break: %v):\n%q", bare, body)
			}
		}
		msg, err := mail.ReadMessage(bytes.NewReader(raw))
		if err != nil {
			t.Fatalf("the copy does not parse: %v\n%q", err, raw)
		}
		for _, line := range strings.Split(string(raw), "\r\n") {
			if len(line) > 998 || strings.ContainsRune(line, '\n') {
				t.Fatalf("a bad line %q", line)
			}
		}
		want := strings.ReplaceAll(body(text), "ZZNAME", norm.NFC.String(value))
		var got []byte
		if html == "" {
			got, err = io.ReadAll(quotedprintable.NewReader(msg.Body))
		} else {
			_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
			part, perr := multipart.NewReader(msg.Body, params["boundary"]).NextPart()
			if perr != nil {
				t.Fatalf("no text part: %v", perr)
			}
			got, err = io.ReadAll(part)
		}
		if err != nil {
			t.Fatal(err)
		}
		if strings.TrimSuffix(string(got), "\r\n") != strings.TrimSuffix(want, "\r\n") {
			t.Fatalf("text part %q, want %q", got, want)
		}
	})
}
