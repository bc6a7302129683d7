package bounce

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"
)

// report is a delivery status notification for one address, its
// delivery-status part wrapped in depth multiparts and preceded by junk
// text parts, followed by a returned message of extra bytes.
func report(depth, junk int, diagnostic string, extra io.Reader) io.Reader {
	var b strings.Builder
	b.WriteString("From: MAILER-DAEMON@mail.example.vn\nTo: bounces+tok@news.example.vn\nSubject: Undelivered Mail\nMIME-Version: 1.0\n")
	b.WriteString("Content-Type: multipart/report; report-type=delivery-status; boundary=\"top\"\n\n--top\n")
	for i := 0; i < junk; i++ {
		fmt.Fprintf(&b, "Content-Type: text/x-junk\n\npart %d\n--top\n", i)
	}
	for i := 0; i < depth; i++ {
		fmt.Fprintf(&b, "Content-Type: multipart/mixed; boundary=\"n%d\"\n\n--n%d\n", i, i)
	}
	fmt.Fprintf(&b, "Content-Type: message/delivery-status\n\nReporting-MTA: dns; mail.example.vn\n\n"+
		"Final-Recipient: rfc822; gone@example.org\nAction: failed\nStatus: 5.1.1\nDiagnostic-Code: smtp; %s\n\n", diagnostic)
	for i := depth - 1; i >= 0; i-- {
		fmt.Fprintf(&b, "--n%d--\n", i)
	}
	b.WriteString("--top\nContent-Type: message/rfc822\n\nReturn-Path: <bounces+tok@news.example.vn>\nTo: gone@example.org\n\n")
	return io.MultiReader(strings.NewReader(b.String()), extra, strings.NewReader("\n--top--\n"))
}

// countingReader counts what was read from it.
type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// endless is an io.Reader that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = 'x'
		if i%76 == 75 {
			p[i] = '\n'
		}
	}
	return len(p), nil
}

func TestParseReadsAtMostMaxBytes10MiB(t *testing.T) {
	// A bounce that returns a message with no end: read up to the limit,
	// the failed address still found, the report marked truncated.
	in := &countingReader{r: report(0, 0, "550 5.1.1 User unknown", endless{})}
	rep, err := Parse(in)
	if err != nil {
		t.Fatal(err)
	}
	if in.n > DefaultMaxBytes+1 {
		t.Errorf("read %d bytes, want at most %d", in.n, DefaultMaxBytes+1)
	}
	if !rep.Truncated || rep.Kind != Hard || len(rep.Recipients) != 1 || rep.Recipients[0].Address != "gone@example.org" {
		t.Errorf("got %+v, want a truncated hard bounce of gone@example.org", rep)
	}
	// A smaller limit is kept too.
	in = &countingReader{r: report(0, 0, "550 5.1.1 User unknown", endless{})}
	if rep, err := (Options{MaxBytes: 4096}).Parse(in); err != nil || in.n > 4097 || !rep.Truncated {
		t.Errorf("MaxBytes 4096: read %d bytes, truncated %v, err %v", in.n, rep.Truncated, err)
	}
}

func TestParseLooksAtMostMaxParts100(t *testing.T) {
	for _, tc := range []struct {
		junk int
		want Kind
	}{{50, Hard}, {DefaultMaxParts + 10, NotBounce}, {50000, NotBounce}} {
		start := time.Now()
		rep, err := Parse(report(0, tc.junk, "550 5.1.1 User unknown", strings.NewReader("")))
		if err != nil {
			t.Fatal(err)
		}
		// Past the limit the delivery-status part is not read.
		got := rep.Kind
		if !readStatus(rep) {
			got = NotBounce
		}
		if got != tc.want {
			t.Errorf("%d parts before the status: kind %s with %d recipients, want %s", tc.junk, rep.Kind, len(rep.Recipients), tc.want)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%d parts took %s", tc.junk, d)
		}
	}
}

// readStatus says whether the delivery-status part of report was read.
func readStatus(rep Report) bool {
	return len(rep.Recipients) == 1 && rep.Recipients[0].Status == "5.1.1" && rep.Format == "rfc3464"
}

func TestParseFollowsAtMostMaxDepth8(t *testing.T) {
	for _, tc := range []struct {
		depth int
		found bool
	}{{DefaultMaxDepth - 2, true}, {DefaultMaxDepth + 1, false}, {20000, false}} {
		start := time.Now()
		rep, err := Parse(report(tc.depth, 0, "550 5.1.1 User unknown", strings.NewReader("")))
		if err != nil {
			t.Fatal(err)
		}
		if found := readStatus(rep); found != tc.found {
			t.Errorf("nested %d deep: recipients %+v, want found %v", tc.depth, rep.Recipients, tc.found)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("nested %d deep took %s", tc.depth, d)
		}
	}
}

func TestReasonCutToMaxReason300(t *testing.T) {
	long := "550 5.1.1 " + strings.Repeat("Người dùng không tồn tại\t\r\x00 ", 5000)
	rep, err := Parse(report(0, 0, long, strings.NewReader("")))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Recipients) != 1 {
		t.Fatalf("recipients %+v, want one", rep.Recipients)
	}
	r := rep.Recipients[0].Reason
	if runeLen(r) > MaxReason || !strings.HasPrefix(r, "550 5.1.1 Người dùng không tồn tại Người") || strings.ContainsAny(r, "\t\r\n\x00") {
		t.Errorf("reason %q (%d runes): want the start of the text on one line, at most %d runes", r, runeLen(r), MaxReason)
	}
	checkReport(t, rep)
}

func TestEachMbox(t *testing.T) {
	// A message longer than MaxBytes in an mbox is cut, and the next one
	// is still read from its own "From " line.
	big := strings.Repeat("y", 8192)
	box := "From a@b Thu Mar 28 10:00:00 2024\nFrom: MAILER-DAEMON@x.example\nSubject: failure notice\n\nHi. This is the qmail-send program.\n\n<a@example.org>:\n550 5.1.1 no\n\n" + big + "\n\n" +
		"From c@d Thu Mar 28 10:00:00 2024\nFrom: r@example.com\nSubject: hi\n\n>From the reader\n"
	var got []Message
	err := (Options{MaxBytes: 4096}).eachIn("box", bytes.NewReader([]byte(box)), func(m Message) { got = append(got, m) })
	if err != nil || len(got) != 2 {
		t.Fatalf("err %v, %d messages, want 2", err, len(got))
	}
	if got[0].Index != 1 || got[0].Report.Kind != Hard || !got[0].Report.Truncated {
		t.Errorf("first: %+v, want message 1, hard, truncated", got[0])
	}
	if got[1].Index != 2 || got[1].Report.Kind != NotBounce || got[1].Err != nil {
		t.Errorf("second: %+v, want message 2, not a bounce", got[1])
	}
}
