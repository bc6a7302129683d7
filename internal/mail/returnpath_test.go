package mail

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReturnPathIsTheEnvelopeSender: a message's ReturnPath is its MAIL
// FROM, a raw copy's too, while the From header stays; without one the
// envelope sender is From as before; a ReturnPath with a line break is
// refused.
func TestReturnPathIsTheEnvelopeSender(t *testing.T) {
	ts := newTestServer(t)
	st := newSMTP(t, ts, nil)
	m := vietnamese("a@example.com")
	m.ReturnPath = "bounces+7-3-abcdefghijklmnopqrst@example.vn"
	raw := Message{From: m.From, To: m.To, MessageID: "raw-1@example.vn", ReturnPath: "bounces+7-4-abc@example.vn",
		Raw: []byte("From: news@example.vn\r\nTo: b@example.com\r\nSubject: x\r\n\r\nbody\r\n")}
	bad := vietnamese("c@example.com")
	bad.ReturnPath = "bounces+x@example.vn\r\nRCPT TO:<victim@example.com>"
	results := st.Send(context.Background(), []Message{m, raw, vietnamese("d@example.com"), bad})
	for i, want := range []Status{Sent, Sent, Sent, Permanent} {
		if results[i].Status != want {
			t.Errorf("message %d: %v (%v), want %v", i, results[i].Status, results[i].Err, want)
		}
	}
	got := ts.messages()
	if len(got) != 3 {
		t.Fatalf("server received %d messages, want 3", len(got))
	}
	for i, want := range []string{m.ReturnPath, raw.ReturnPath, "news@example.vn"} {
		if got[i].from != want {
			t.Errorf("message %d: MAIL FROM %s, want %s", i, got[i].from, want)
		}
	}
	if strings.Contains(string(got[0].data), "bounces+") {
		t.Error("the return path shows in a message sent over SMTP; the receiving MTA adds Return-Path")
	}

	// The file transport shows it as the Return-Path header on top.
	dir := t.TempDir()
	ft, err := NewFileTransport(dir, time.UTC, nil)
	if err != nil {
		t.Fatal(err)
	}
	if r := ft.Send(context.Background(), []Message{m, vietnamese("d@example.com")}); r[0].Status != Sent || r[1].Status != Sent {
		t.Fatalf("file transport: %+v", r)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	if len(files) != 2 {
		t.Fatalf("%d files, want 2", len(files))
	}
	first, _ := os.ReadFile(files[0])
	second, _ := os.ReadFile(files[1])
	if want := "Return-Path: <" + m.ReturnPath + ">\r\n"; !strings.HasPrefix(string(first), want) {
		t.Errorf("file starts %q, want %q", string(first[:min(len(first), 80)]), want)
	}
	if strings.Contains(string(second), "Return-Path") {
		t.Error("a message with no ReturnPath got a Return-Path header")
	}
}
