package bounce

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReportEventsSameIDsForImportAndMailbox: a notice that reaches bantin
// both through the mail server's pipe (bounces import) and through the
// bounce mailbox gives events with the same IDs, so it counts once: the
// ID is its Message-ID and the recipient in lower case, nothing of the
// way in; one event per recipient, each naming its own.
func TestReportEventsSameIDsForImportAndMailbox(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.eml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no bounce fixtures: %v", err)
	}
	var compared int
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		rep, err := Parse(fh)
		fh.Close()
		if err != nil || rep.MessageID == "" || len(rep.Recipients) == 0 {
			continue
		}
		imported := rep.Events("import", "sha256:x", time.Time{})
		fetched := rep.Events("imap", "imap:fallback", time.Now())
		if len(imported) != len(rep.Recipients) || len(fetched) != len(rep.Recipients) {
			t.Fatalf("%s: %d recipients, %d events imported, %d fetched", f, len(rep.Recipients), len(imported), len(fetched))
		}
		for i, rc := range rep.Recipients {
			want := "msg:" + rep.MessageID + " " + strings.ToLower(rc.Address)
			if imported[i].ID != want || fetched[i].ID != want || imported[i].Recipient != rc.Address {
				t.Errorf("%s: recipient %s: import ID %q, mailbox ID %q, want %q for both", filepath.Base(f), rc.Address, imported[i].ID, fetched[i].ID, want)
			}
		}
		compared++
	}
	if compared == 0 {
		t.Fatal("no fixture with a Message-ID and a recipient was compared")
	}
}

// TestReportEventsPerRecipient: each recipient's own kind and status win
// over the report's; IDs put the address in lower case; a notice naming
// no address is one event that only its token can place.
func TestReportEventsPerRecipient(t *testing.T) {
	rep := Report{Kind: Hard, Status: "5.0.0", Reason: "report", Token: "tok",
		Recipients: []Recipient{
			{Address: "Lan@Example.vn", Kind: Soft, Status: "4.2.2", Reason: "mailbox full"},
			{Address: "binh@example.vn"},
		}}
	evs := rep.Events("import", "sha256:abc", time.Time{})
	want := []Event{
		{Source: "import", Kind: Soft, Recipient: "Lan@Example.vn", Status: "4.2.2", Reason: "mailbox full", Token: "tok", ID: "sha256:abc lan@example.vn"},
		{Source: "import", Kind: Hard, Recipient: "binh@example.vn", Status: "5.0.0", Reason: "report", Token: "tok", ID: "sha256:abc binh@example.vn"},
	}
	if len(evs) != len(want) {
		t.Fatalf("%d events, want %d: %+v", len(evs), len(want), evs)
	}
	for i := range want {
		if evs[i] != want[i] {
			t.Errorf("event %d:\n got %+v\nwant %+v", i, evs[i], want[i])
		}
	}
	rep.MessageID, rep.Recipients = "<n1@mx.example>", nil
	if evs := rep.Events("imap", "imap:x", time.Time{}); len(evs) != 1 || evs[0].ID != "msg:<n1@mx.example>" || evs[0].Recipient != "" {
		t.Errorf("notice naming no address: %+v, want one event msg:<n1@mx.example>", evs)
	}
}
