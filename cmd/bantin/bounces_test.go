package main

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const (
	// e2eHardBounce is a Postfix-style RFC 3464 notice for one address.
	e2eHardBounce = `Return-Path: <>
Delivered-To: bounces+tok-hard@news.example.vn
From: MAILER-DAEMON@mail.example.vn (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: bounces+tok-hard@news.example.vn
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="b1"

--b1
Content-Type: text/plain

<gone@Example.ORG>: host mx.example.org[192.0.2.1] said: 550 5.1.1 User unknown

--b1
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.vn

Final-Recipient: rfc822; gone@Example.ORG
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <gone@Example.ORG>: User unknown

--b1--
`
	// e2eComplaint is an ARF report with the complainer's address.
	e2eComplaint = `From: fbl@isp.example.net
To: abuse@news.example.vn
Subject: Abuse report
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="b2"

--b2
Content-Type: text/plain

A reader marked your message as spam.
From here on the report is machine-readable.

--b2
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: FBL/1
Version: 1
Original-Mail-From: <bounces+tok-arf@news.example.vn>
Original-Rcpt-To: <angry@isp.example.net>

--b2--
`
	// e2eAutoReply is a vacation answer (RFC 3834).
	e2eAutoReply = `From: Reader <away@example.com>
To: bounces+tok-away@news.example.vn
Subject: Out of Office: Ban tin
Auto-Submitted: auto-replied

I am away.
`
	// e2eQmail is a qmail bounce naming an address whose mailbox is full.
	e2eQmail = `From: MAILER-DAEMON@qmail.example.net
To: bounces+tok-qmail@news.example.vn
Subject: failure notice

Hi. This is the qmail-send program at qmail.example.net.
I'm afraid I wasn't able to deliver your message to the following addresses.
This is a permanent error; I've given up. Sorry it didn't work out.

<full@example.net>:
Remote host said: 552 5.2.2 Mailbox full

--- Below this line is a copy of the message.

Return-Path: <bounces+tok-qmail@news.example.vn>
To: full@example.net
`
	// e2eOrdinary is a reader's own email.
	e2eOrdinary = `From: reader@example.com
To: news@news.example.vn
Subject: Thanks

Good newsletter.
`
)

// bounceLine is a line of bounces parse, with the fields a script reads.
type bounceLine struct {
	File         string  `json:"file"`
	Message      int     `json:"message"`
	Kind         string  `json:"kind"`
	Recipient    *string `json:"recipient"`
	Status       *string `json:"status"`
	Reason       *string `json:"reason"`
	Delivery     *string `json:"delivery"`
	FeedbackType string  `json:"feedback_type"`
}

func strp(s string) *string { return &s }

// TestBouncesParse drives bantin bounces parse over a message file, an
// mbox, a maildir, standard input and a missing file: one JSON line per
// address, the missing file named on stderr with exit 1, nothing stored.
func TestBouncesParse(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("hard.eml", e2eHardBounce)
	// An mbox: the complaint's body holds a quoted ">From " line, which
	// must not split it.
	complaint := strings.Replace(e2eComplaint, "From here on", ">From here on", 1)
	write("box.mbox", "From MAILER-DAEMON Thu Mar 28 10:00:00 2024\n"+complaint+"\nFrom away@example.com Thu Mar 28 10:01:00 2024\n"+e2eAutoReply+"\n")
	write("Maildir/new/1711600000.1.host", e2eOrdinary)
	write("Maildir/cur/1711600001.2.host:2,S", e2eHardBounce)
	write("Maildir/tmp/1711600002.3.host", e2eOrdinary) // still being written: not read

	code, stdout, stderr := bantin(t, dir, e2eQmail, "bounces", "parse", "hard.eml", "box.mbox", "Maildir", "-", "missing.eml")
	if code != 1 || !strings.Contains(stderr, "missing.eml") {
		t.Errorf("exit %d, stderr %q; want 1 naming missing.eml", code, stderr)
	}
	var got []bounceLine
	for _, line := range strings.Split(strings.TrimSpace(stdout), "\n") {
		var l bounceLine
		if err := json.Unmarshal([]byte(line), &l); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		got = append(got, l)
	}
	hard := bounceLine{Kind: "hard", Recipient: strp("gone@example.org"), Status: strp("5.1.1"),
		Reason: strp("550 5.1.1 <gone@Example.ORG>: User unknown"), Delivery: strp("tok-hard")}
	want := []bounceLine{
		withFile(hard, "hard.eml", 0),
		{File: "box.mbox", Message: 1, Kind: "complaint", Recipient: strp("angry@isp.example.net"), Reason: strp("Abuse report"),
			Delivery: strp("tok-arf"), FeedbackType: "abuse"},
		{File: "box.mbox", Message: 2, Kind: "auto-reply", Recipient: strp("away@example.com"), Delivery: strp("tok-away")},
		{File: filepath.Join("Maildir", "new", "1711600000.1.host"), Kind: "not-a-bounce"},
		withFile(hard, filepath.Join("Maildir", "cur", "1711600001.2.host:2,S"), 0),
		{File: "-", Kind: "soft", Recipient: strp("full@example.net"), Status: strp("5.2.2"),
			Reason: strp("Remote host said: 552 5.2.2 Mailbox full"), Delivery: strp("tok-qmail")},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("bounces parse lines (-want +got):\n%s\nstdout:\n%s", diff, stdout)
	}
	if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
		t.Errorf("bounces parse made %s (err %v); it must open no store", filepath.Join(dir, "data"), err)
	}

	// Every file read: exit 0, whatever the messages were.
	if code, _, stderr := bantin(t, dir, "", "bounces", "parse", "hard.eml", "Maildir"); code != 0 {
		t.Errorf("exit %d (stderr %q), want 0", code, stderr)
	}
	// Something that is no email at all is a file that could not be read.
	write("empty.eml", "")
	if code, _, stderr := bantin(t, dir, "", "bounces", "parse", "empty.eml"); code != 1 || !strings.Contains(stderr, "empty.eml") {
		t.Errorf("empty file: exit %d, stderr %q; want 1 naming it", code, stderr)
	}
	if code, _, _ := bantin(t, dir, "", "bounces", "parse"); code != 2 {
		t.Errorf("no argument: exit %d, want 2", code)
	}
}

func withFile(l bounceLine, file string, message int) bounceLine {
	l.File, l.Message = file, message
	return l
}

// TestBouncesParseReadsAtMost10MiBOfAMessage pipes a bounce that returns a
// 200 MiB message: bantin reads the first 10 MiB (the notice comes first),
// prints the failed address marked truncated, and exits without reading
// the rest or holding it in memory.
func TestBouncesParseReadsAtMost10MiBOfAMessage(t *testing.T) {
	const size = 200 << 20
	line := bytes.Repeat([]byte("x"), 75)
	line = append(line, '\n')
	body := io.LimitReader(&repeatReader{line: line}, size)
	cmd := exec.Command(binary(t), "bounces", "parse", "-")
	cmd.Dir = t.TempDir()
	cmd.Env = cleanEnv()
	cmd.Stdin = io.MultiReader(strings.NewReader(strings.TrimSuffix(e2eHardBounce, "--b1--\n")+
		"--b1\nContent-Type: message/rfc822\n\nTo: gone@example.org\n\n"), body)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	if err := cmd.Run(); err != nil {
		t.Fatalf("%v; stderr %s", err, stderr.String())
	}
	elapsed := time.Since(start)
	var got map[string]any
	if err := json.Unmarshal(stdout.Bytes(), &got); err != nil {
		t.Fatalf("stdout %q: %v", stdout.String(), err)
	}
	if got["kind"] != "hard" || got["recipient"] != "gone@example.org" || got["truncated"] != true {
		t.Errorf("got %v, want a hard bounce of gone@example.org, truncated", got)
	}
	rss := cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss // KiB on Linux
	t.Logf("200 MiB message: %s, peak RSS %d KiB", elapsed.Round(time.Millisecond), rss)
	if rss > 150<<10 {
		t.Errorf("peak RSS %d KiB, want under 150 MiB for a 10 MiB read limit", rss)
	}
	if elapsed > 30*time.Second {
		t.Errorf("took %s", elapsed)
	}
}

// repeatReader repeats line for ever.
type repeatReader struct {
	line []byte
	off  int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.line[r.off:])
		n += c
		r.off = (r.off + c) % len(r.line)
	}
	return n, nil
}
