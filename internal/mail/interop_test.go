package mail

import (
	"bytes"
	"mime"
	"net/mail"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// longSubject folds into several encoded words.
const longSubject = "Bản tin sáng: Công tác dân vận trong tình hình mới và những bài học kinh nghiệm quý báu"

// renderAndCopy gives m as Render writes it and as a Bulk copy of it.
func renderAndCopy(t *testing.T, m Message) map[string][]byte {
	t.Helper()
	raw, err := Render(m, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewBulk(BulkMessage{From: m.From, Subject: m.Subject, Text: m.Text}, nil, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	cp, err := b.CopyMessage(m.To, m.MessageID, m.Date, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"Render": raw, "Bulk": cp.Raw}
}

// headerLines returns the raw lines of one header field, folds included.
func headerLines(raw []byte, name string) []string {
	head, _, _ := bytes.Cut(raw, []byte("\r\n\r\n"))
	var out []string
	for _, l := range strings.Split(string(head), "\r\n") {
		switch {
		case strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":"):
			out = append(out, l)
		case len(out) > 0 && (strings.HasPrefix(l, " ") || strings.HasPrefix(l, "\t")):
			out = append(out, l)
		case len(out) > 0:
			return out
		}
	}
	return out
}

// TestSubjectFoldsAfterFirstWord: the Subject's first encoded word is on
// the field name's line, never a fold right after the colon, and every
// line stays within 78 columns.
func TestSubjectFoldsAfterFirstWord(t *testing.T) {
	for _, subject := range []string{longSubject, "Bản tin", strings.Repeat("x", 120), "Tin =?UTF-8?B?YUBiLmM=?= mới"} {
		m := Message{From: mail.Address{Address: "news@example.vn"}, To: mail.Address{Address: "a@example.vn"},
			Subject: subject, Text: "x", MessageID: "i@example.vn", Date: time.Date(2024, 3, 28, 0, 30, 0, 0, time.UTC)}
		for how, raw := range renderAndCopy(t, m) {
			lines := headerLines(raw, "Subject")
			if len(lines) == 0 || !strings.HasPrefix(lines[0], "Subject: ") || len(lines[0]) <= len("Subject: ") {
				t.Errorf("%s %q: first Subject line %q, want the first word on it", how, subject, lines)
			}
			for _, l := range lines {
				if len(l) > 78 {
					t.Errorf("%s %q: Subject line of %d bytes: %q", how, subject, len(l), l)
				}
			}
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			got, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			if err != nil || got != subject {
				t.Errorf("%s: Subject reads %q (%v), want %q", how, got, err, subject)
			}
		}
	}
}

// TestSubjectPythonCompat32 reads the subject with Python's email package
// under the compat32 policy, which keeps a leading fold as a leading space.
func TestSubjectPythonCompat32(t *testing.T) {
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("BANTIN_TEST_ALL") != "" {
			t.Fatal("python3 is not installed (BANTIN_TEST_ALL is set)")
		}
		t.Skip("python3 is not installed")
	}
	m := Message{From: mail.Address{Name: "Báo Mẫu", Address: "news@example.vn"}, To: mail.Address{Name: "Nguyễn Văn A", Address: "a@example.vn"},
		Subject: longSubject, Text: "x", MessageID: "i@example.vn", Date: time.Date(2024, 3, 28, 0, 30, 0, 0, time.UTC)}
	const script = `import sys, email, email.header, email.policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.compat32)
s = m["Subject"]
sys.stdout.write(s + "\0" + str(email.header.make_header(email.header.decode_header(s))))`
	for how, raw := range renderAndCopy(t, m) {
		cmd := exec.Command(py, "-c", script)
		cmd.Stdin = bytes.NewReader(raw)
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("python3: %v", err)
		}
		value, decoded, _ := strings.Cut(string(out), "\x00")
		if strings.TrimLeft(value, " \t\r\n") != value {
			t.Errorf("%s: Python (compat32) reads the Subject field as %q, with a leading space", how, value)
		}
		if decoded != longSubject {
			t.Errorf("%s: Python (compat32) decodes the subject as %q, want %q", how, decoded, longSubject)
		}
	}
}

// TestDisplayNameEncodedWordIsText: a name typed as an encoded word is
// text. The To header holds no encoded word inside a quoted string, and
// a parser reads back exactly one address, the subscriber's, with the
// name as typed.
func TestDisplayNameEncodedWordIsText(t *testing.T) {
	// "=?UTF-8?B?...?=" of "x@evil.example>, <y"; decoded inside quotes
	// by a lax client it names other addresses.
	for _, name := range []string{"=?UTF-8?B?eEBldmlsLmV4YW1wbGU+LCA8eQ==?=", "An =?utf-8?q?x=40evil=2Eexample?= Nguyễn"} {
		m := Message{From: mail.Address{Address: "news@example.vn"}, To: mail.Address{Name: name, Address: "a@example.vn"},
			Subject: "Tin", Text: "x", MessageID: "i@example.vn", Date: time.Date(2024, 3, 28, 0, 30, 0, 0, time.UTC)}
		for how, raw := range renderAndCopy(t, m) {
			to := strings.Join(headerLines(raw, "To"), "\r\n")
			if strings.Contains(to, `"`) || strings.Contains(to, "=?UTF-8?B?") || strings.Contains(to, "?q?x=40") {
				t.Errorf("%s: To header %q carries the typed encoded word", how, to)
			}
			msg, err := mail.ReadMessage(bytes.NewReader(raw))
			if err != nil {
				t.Fatal(err)
			}
			list, err := msg.Header.AddressList("To")
			if err != nil || len(list) != 1 || list[0].Address != "a@example.vn" || list[0].Name != name {
				t.Errorf("%s: To %q reads %v (%v), want one address a@example.vn named %q", how, to, list, err, name)
			}
		}
	}
}
