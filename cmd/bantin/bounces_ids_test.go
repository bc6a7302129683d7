package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/bounce"
	"github.com/bantin/bantin/internal/bounce/mailbox"
)

// TestSameNoticeByImportAndMailboxHasOneID: a notice that reaches bantin
// both through the mail server's pipe (bounces import) and through the
// bounce mailbox gives events with the same IDs, so it counts once.
func TestSameNoticeByImportAndMailboxHasOneID(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "internal", "bounce", "testdata", "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bounce fixtures: %v", err)
	}
	var compared int
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := bounce.Parse(bytes.NewReader(raw))
		if err != nil || rep.MessageID == "" || rep.Kind == bounce.NotBounce {
			continue
		}
		imported := messageEvents("import", rep, string(raw))
		fetched := mailbox.Events(rep, "imap:fallback", time.Now())
		if len(imported) != len(fetched) {
			t.Fatalf("%s: %d events imported, %d fetched", f, len(imported), len(fetched))
		}
		for i := range imported {
			if imported[i].ID != fetched[i].ID {
				t.Errorf("%s: import ID %q, mailbox ID %q; the same notice would count twice", filepath.Base(f), imported[i].ID, fetched[i].ID)
			}
		}
		compared++
	}
	if compared == 0 {
		t.Fatal("no fixture with a Message-ID was compared")
	}
}
