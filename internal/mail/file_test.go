package mail

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

func TestFileTransport(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "outbox")
	now := time.Date(2024, 3, 28, 0, 30, 0, 0, time.UTC)
	ft, err := NewFileTransport(dir, time.UTC, func() time.Time { return now })
	if err != nil {
		t.Fatal(err)
	}
	defer ft.Close()

	bad := vietnamese("bad@example.com")
	bad.Subject = "x\r\nBcc: victim@example.com"
	msgs := []Message{vietnamese("b@example.com"), bad, vietnamese("a@example.com"), vietnamese("c@example.com")}
	results := ft.Send(context.Background(), msgs)

	wantStatus := []Status{Sent, Permanent, Sent, Sent}
	for i, r := range results {
		if r.Status != wantStatus[i] {
			t.Errorf("result %d = %v (%v), want %v", i, r.Status, r.Err, wantStatus[i])
		}
	}

	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if len(names) != 3 {
		t.Fatalf("files in outbox = %q, want 3 .eml and no temporary files", names)
	}
	if !slices.IsSorted(names) {
		t.Errorf("file names %q not sorted", names)
	}
	// Same clock for all three: the sequence number keeps them in order.
	wantTo := []string{"b@example.com", "a@example.com", "c@example.com"}
	for i, name := range names {
		if filepath.Ext(name) != ".eml" {
			t.Errorf("file %q is not .eml", name)
		}
		t.Run(name, func(t *testing.T) {
			raw, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			checkMessage(t, raw, wantTo[i], time.UTC)
		})
	}
}

func TestFileTransportCancelled(t *testing.T) {
	ft, err := NewFileTransport(t.TempDir(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := ft.Send(ctx, []Message{vietnamese("a@example.com")})
	if got[0].Status != Temporary {
		t.Errorf("status = %v, want Temporary", got[0].Status)
	}
}
