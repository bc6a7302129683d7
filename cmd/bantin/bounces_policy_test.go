package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/mail/smtptest"
)

// The bounce notices below follow the shapes of internal/bounce/testdata:
// a Postfix RFC 3464 report, an Exim-style soft failure in a report, a
// notice that names no address (only its Delivered-To carries the VERP
// token), an ARF complaint and a vacation reply.

func dsnHard(rcpt, returnPath, id string) string {
	return fmt.Sprintf(`Return-Path: <>
Delivered-To: %[2]s
Date: Thu, 28 Mar 2024 08:01:12 +0700
From: MAILER-DAEMON@mail.example.vn (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: %[2]s
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B1"
Message-Id: <%[3]s@mail.example.vn>

--B1
Content-Type: text/plain; charset=us-ascii

<%[1]s>: host mx1.example.vn[192.0.2.25] said: 550 5.1.1 User unknown

--B1
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.vn

Final-Recipient: rfc822; %[1]s
Original-Recipient: rfc822;%[1]s
Action: failed
Status: 5.1.1
Diagnostic-Code: smtp; 550 5.1.1 <%[1]s>: Recipient address rejected: User unknown

--B1--
`, rcpt, returnPath, id)
}

func dsnSoft(rcpt, returnPath, id string) string {
	return fmt.Sprintf(`Return-Path: <>
Delivered-To: %[2]s
Date: Thu, 28 Mar 2024 09:01:12 +0700
From: MAILER-DAEMON@mail.example.vn (Mail Delivery System)
Subject: Undelivered Mail Returned to Sender
To: %[2]s
Auto-Submitted: auto-replied
MIME-Version: 1.0
Content-Type: multipart/report; report-type=delivery-status; boundary="B2"
Message-Id: <%[3]s@mail.example.vn>

--B2
Content-Type: text/plain; charset=us-ascii

<%[1]s>: host mx1.example.vn[192.0.2.25] said: 552 5.2.2 Mailbox full

--B2
Content-Type: message/delivery-status

Reporting-MTA: dns; mail.example.vn

Final-Recipient: rfc822; %[1]s
Action: failed
Status: 5.2.2
Diagnostic-Code: smtp; 552 5.2.2 <%[1]s>: Mailbox full

--B2--
`, rcpt, returnPath, id)
}

func noAddress(returnPath string) string {
	return fmt.Sprintf(`Return-Path: <>
Delivered-To: %s
From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.com>
To: news@baomau.vn
Subject: Delivery failure
Date: Thu, 28 Mar 2024 08:05:00 +0700
Message-Id: <noaddr-1@relay.example.com>

Your message could not be delivered.
The server said: 550 5.1.1 Mailbox unavailable
`, returnPath)
}

func arfComplaint(rcpt, returnPath string) string {
	return fmt.Sprintf(`From: <staff@fbl.example.net>
Date: Thu, 28 Mar 2024 10:00:00 +0000
Subject: FW: Ban tin sang
To: <abuse@baomau.vn>
Message-Id: <arf-1@fbl.example.net>
MIME-Version: 1.0
Content-Type: multipart/report; report-type=feedback-report; boundary="F1"

--F1
Content-Type: text/plain; charset="US-ASCII"

This is an email abuse report.

--F1
Content-Type: message/feedback-report

Feedback-Type: abuse
User-Agent: ExampleFBL/1.0
Version: 1
Original-Mail-From: <%[2]s>
Original-Rcpt-To: <%[1]s>
Arrival-Date: Thu, 28 Mar 2024 09:00:00 +0000

--F1
Content-Type: message/rfc822
Content-Disposition: inline

Return-Path: <%[2]s>
From: news@baomau.vn
To: %[1]s
Subject: Ban tin sang

Xin chao.

--F1--
`, rcpt, returnPath)
}

func vacation(from, returnPath string) string {
	return fmt.Sprintf(`From: Le Thi C <%s>
To: %s
Subject: =?UTF-8?Q?V=E1=BA=AFng_m=E1=BA=B7t?=
X-Autoreply: yes
Auto-Submitted: auto-replied
Precedence: auto_reply
Date: Thu, 28 Mar 2024 08:05:00 +0700
Message-Id: <vac-1@example.vn>

Toi vang mat.
`, from, returnPath)
}

// bouncesDir is a data folder whose digests go through srv with
// mail.return_path set and subscribe.bounce_limit at limit.
func bouncesDir(t *testing.T, addr string, port, limit int) string {
	t.Helper()
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(addr, "digest-token")+fmt.Sprintf(`newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
  - {id: toi, title: "Bản tin tối", schedule: "0 18 * * *"}
mail:
  from: "Báo Mẫu <news@baomau.vn>"
  return_path: bounces@baomau.vn
  transport: smtp
  smtp: {host: 127.0.0.1, port: %d, tls: none, connections: 2}
subscribe:
  bounce_limit: %d
`, port, limit))
	addArticle(t, dir, "bai-1", "Công tác dân vận góp phần gắn kết")
	return dir
}

var verpFrom = regexp.MustCompile(`^bounces\+([a-z0-9-]+)@baomau\.vn$`)

// TestBouncesImportAtSubscribeBounceLimit1 is the end-to-end
// check: a digest through the SMTP server with mail.return_path set,
// then bounces for its copies piped to bounces import (a hard one, a
// soft one, one naming no address found by its VERP token alone), an ARF
// complaint and a vacation reply; the next issue goes to neither the
// hard-bounced (subscribe.bounce_limit: 1) nor the complainer, and goes
// to the soft-bounced one and the one on holiday.
func TestBouncesImportAtSubscribeBounceLimit1(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{KeepData: true})
	dir := bouncesDir(t, freeAddr(t), srv.Port, 1)
	readers := []string{"hard@example.vn", "soft@example.vn", "verp@example.vn", "spam@example.vn", "away@example.vn"}
	for _, r := range readers {
		mustRun(t, dir, 0, "subscribers", "add", "sang", r, "--confirmed")
	}
	mustRun(t, dir, 0, "subscribers", "add", "toi", "spam@example.vn", "--confirmed")
	mustRun(t, dir, 0, "digest", "send", "sang")

	// Each copy's MAIL FROM is its own VERP address; the header From is not.
	returnPath := map[string]string{}
	for _, m := range srv.Messages() {
		sub := verpFrom.FindStringSubmatch(m.From)
		if sub == nil {
			t.Fatalf("copy to %s: MAIL FROM %q; want bounces+TOKEN@baomau.vn in lower case", m.To, m.From)
		}
		if local := m.From[:strings.IndexByte(m.From, '@')]; len(local) > 64 {
			t.Errorf("MAIL FROM %q: local part of %d octets, over 64", m.From, len(local))
		}
		if head, _, _ := strings.Cut(string(m.Data), "\r\n\r\n"); !strings.Contains(head, "<news@baomau.vn>") || strings.Contains(head, "bounces+") {
			t.Errorf("copy to %s: the headers should say mail.from and not the return path:\n%s", m.To, head)
		}
		returnPath[m.To] = m.From
	}
	if len(returnPath) != len(readers) {
		t.Fatalf("%d distinct copies, want %d: %v", len(returnPath), len(readers), returnPath)
	}
	seen := map[string]bool{}
	for _, rp := range returnPath {
		if seen[rp] {
			t.Errorf("two copies share the return path %s", rp)
		}
		seen[rp] = true
	}

	// Each notice piped to bounces import -, as an MTA's alias does.
	for _, c := range []struct {
		name, notice, summary string
	}{
		{"hard", dsnHard("hard@example.vn", returnPath["hard@example.vn"], "hard-1"),
			"bounces import: 0 counted, 1 bounced, 0 unsubscribed, 0 duplicates, 0 ignored, 0 unknown\n"},
		{"hard again", dsnHard("hard@example.vn", returnPath["hard@example.vn"], "hard-1"),
			"bounces import: 0 counted, 0 bounced, 0 unsubscribed, 1 duplicate, 0 ignored, 0 unknown\n"},
		{"soft", dsnSoft("soft@example.vn", returnPath["soft@example.vn"], "soft-1"),
			"bounces import: 1 counted, 0 bounced, 0 unsubscribed, 0 duplicates, 0 ignored, 0 unknown\n"},
		{"no address, VERP only", noAddress(returnPath["verp@example.vn"]),
			"bounces import: 0 counted, 1 bounced, 0 unsubscribed, 0 duplicates, 0 ignored, 0 unknown\n"},
		{"complaint", arfComplaint("spam@example.vn", returnPath["spam@example.vn"]),
			"bounces import: 0 counted, 0 bounced, 1 unsubscribed, 0 duplicates, 0 ignored, 0 unknown\n"},
		{"vacation", vacation("away@example.vn", returnPath["away@example.vn"]),
			"bounces import: 0 counted, 0 bounced, 0 unsubscribed, 0 duplicates, 1 ignored, 0 unknown\n"},
		{"unknown address", dsnHard("stranger@example.vn", "bounces@baomau.vn", "x-1"),
			"bounces import: 0 counted, 0 bounced, 0 unsubscribed, 0 duplicates, 0 ignored, 1 unknown\n"},
	} {
		code, out, errOut := bantin(t, dir, c.notice, "bounces", "import", "-")
		if code != 0 || out != c.summary || errOut != "" {
			t.Errorf("%s: bounces import - = exit %d\nstdout %q\nstderr %q\nwant exit 0, stdout %q and nothing on stderr", c.name, code, out, errOut, c.summary)
		}
	}

	// The next issue: not to the hard-bounced, the VERP-bounced nor the
	// complainer; to the soft-bounced and the one on holiday.
	before := srv.Counts()
	addArticle(t, dir, "bai-2", "Giá cà phê giảm")
	mustRun(t, dir, 0, "digest", "send", "sang")
	after := srv.Counts()
	for r, want := range map[string]int{"hard@example.vn": 0, "verp@example.vn": 0, "spam@example.vn": 0, "soft@example.vn": 1, "away@example.vn": 1} {
		if got := after[r] - before[r]; got != want {
			t.Errorf("the next issue: %s got %d copies, want %d", r, got, want)
		}
	}
	out, _ := mustRun(t, dir, 0, "subscribers", "list", "toi")
	if strings.Contains(out, "spam@example.vn") && !strings.Contains(out, "unsubscribed") {
		t.Errorf("the complainer is still on the other list:\n%s", out)
	}

	// bounces list: newest first, the address, the code and the outcome.
	out, _ = mustRun(t, dir, 0, "bounces", "list")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[0], "TIME") {
		t.Fatalf("bounces list: want a header and 4 records (hard, soft, VERP, complaint):\n%s", out)
	}
	for _, want := range []string{"hard@example.vn", "5.1.1", "soft@example.vn", "5.2.2", "verp@example.vn", "spam@example.vn", "complaint", "unsubscribed", "bounced", "counted", " sang "} {
		if !strings.Contains(out, want) {
			t.Errorf("bounces list lacks %q:\n%s", want, out)
		}
	}
	out, _ = mustRun(t, dir, 0, "bounces", "list", "--kind", "soft", "--since", "1h")
	if n := strings.Count(out, "\n"); n != 2 || !strings.Contains(out, "soft@example.vn") {
		t.Errorf("bounces list --kind soft --since 1h: want the header and soft@example.vn's record:\n%s", out)
	}
	mustRun(t, dir, 2, "bounces", "list", "--kind", "vacation")
	mustRun(t, dir, 2, "bounces", "list", "--since", "yesterday-ish")

	// Erasing a person erases their records.
	mustRun(t, dir, 0, "subscribers", "erase", "spam@example.vn")
	out, _ = mustRun(t, dir, 0, "bounces", "list")
	if strings.Contains(out, "spam@example.vn") {
		t.Errorf("bounces list after subscribers erase still shows the person:\n%s", out)
	}
}

// TestBouncesImportExitStatus: an unreadable file is exit 1 with the
// others still recorded; a store that cannot be reached is exit 75
// (EX_TEMPFAIL), so an MTA keeps the message and tries again.
func TestBouncesImportExitStatus(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := bouncesDir(t, freeAddr(t), srv.Port, 3)
	mustRun(t, dir, 0, "subscribers", "add", "sang", "hard@example.vn", "--confirmed")
	if err := os.WriteFile(filepath.Join(dir, "one.eml"), []byte(dsnHard("hard@example.vn", "bounces@baomau.vn", "n-1")), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := bantin(t, dir, "", "bounces", "import", "one.eml", "missing.eml")
	if code != 1 || out != "bounces import: 1 counted, 0 bounced, 0 unsubscribed, 0 duplicates, 0 ignored, 0 unknown\n" ||
		!strings.Contains(errOut, "missing.eml") {
		t.Errorf("import of a file and a missing one: exit %d\nstdout %q\nstderr %q; want 1, the summary and the missing file named", code, out, errOut)
	}

	// PostgreSQL on a port where nothing listens.
	closed := smtptest.ClosedPort(t)
	cmd := fmt.Sprintf("BANTIN_STORAGE_DRIVER=postgres BANTIN_STORAGE_DSN=postgres://postgres@%s/test?sslmode=disable&connect_timeout=2", closed)
	start := time.Now()
	code, out, errOut = bantinEnv(t, dir, dsnHard("hard@example.vn", "bounces@baomau.vn", "n-2"), strings.Fields(cmd), "bounces", "import", "-")
	if code != 75 || out != "" || !strings.Contains(errOut, "bantin: ") {
		t.Errorf("import with the store unreachable: exit %d\nstdout %q\nstderr %q; want 75 (EX_TEMPFAIL) and the reason on stderr", code, out, errOut)
	}
	if d := time.Since(start); d > 30*time.Second {
		t.Errorf("import with the store unreachable took %v", d)
	}
}

// bantinEnv is bantin with extra KEY=VALUE environment variables.
func bantinEnv(t *testing.T, dir, stdin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	return runBinary(t, dir, stdin, append(cleanEnv(), env...), args...)
}

// TestBouncesAPIAndMetricsWithAdminToken: serve relays a 5xx for one
// copy through the same policy (source smtp), counts it in
// bantin_bounces_total, and GET /api/v1/bounces lists it and an imported
// complaint for the admin only.
func TestBouncesAPIAndMetricsWithAdminToken(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{Policy: func(rcpt string, _ int) smtptest.Fault {
		if rcpt == "gone@example.vn" {
			return smtptest.PermRcpt
		}
		return smtptest.Accept
	}})
	addr := freeAddr(t)
	dir := bouncesDir(t, addr, srv.Port, 1)
	mustRun(t, dir, 0, "subscribers", "add", "sang", "gone@example.vn", "--confirmed")
	mustRun(t, dir, 0, "subscribers", "add", "sang", "spam@example.vn", "--confirmed")
	startServe(t, dir, addr)
	code, _ := httpDo(t, "POST", "http://"+addr+"/api/v1/newsletters/sang/send", "", "", "digest-token")
	if code != http.StatusCreated && code != http.StatusOK {
		t.Fatalf("send: %d", code)
	}
	waitFor(t, 20*time.Second, "the spam@ copy", func() bool { return srv.Counts()["spam@example.vn"] == 1 })
	var rp string
	for _, m := range srv.Messages() {
		rp = m.From
	}
	mustRunStdin(t, dir, arfComplaint("spam@example.vn", rp), 0, "bounces", "import", "-")

	var got struct {
		Bounces []struct {
			Kind, Source, Email, Outcome string
			Status, List                 *string
		} `json:"bounces"`
	}
	waitFor(t, 10*time.Second, "two records at /api/v1/bounces", func() bool {
		api(t, "GET", "http://"+addr+"/api/v1/bounces", &got)
		return len(got.Bounces) == 2
	})
	kinds := map[string]string{}
	for _, b := range got.Bounces {
		kinds[b.Email] = b.Kind + " " + b.Source + " " + b.Outcome
	}
	if kinds["gone@example.vn"] != "hard smtp bounced" || kinds["spam@example.vn"] != "complaint import unsubscribed" {
		t.Errorf("GET /api/v1/bounces = %+v", got.Bounces)
	}
	for _, b := range got.Bounces {
		if b.List == nil || *b.List != "sang" {
			t.Errorf("record of %s: list %v; want sang, from the copy's return path", b.Email, b.List)
		}
	}
	api(t, "GET", "http://"+addr+"/api/v1/bounces?kind=complaint&since=1h&limit=5", &got)
	if len(got.Bounces) != 1 || got.Bounces[0].Email != "spam@example.vn" {
		t.Errorf("?kind=complaint: %+v", got.Bounces)
	}
	if code, body := httpGet(t, "http://"+addr+"/api/v1/bounces?kind=nope", "digest-token"); code != http.StatusBadRequest || !strings.Contains(body, `"field": "kind"`) {
		t.Errorf("?kind=nope: %d %s", code, body)
	}
	if code, _ := httpGet(t, "http://"+addr+"/api/v1/bounces", ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", code)
	}
	if code, _ := httpGet(t, "http://"+addr+"/api/v1/bounces", "wrong"); code != http.StatusForbidden {
		t.Errorf("with a wrong token: %d, want 403", code)
	}
	_, metrics := httpGet(t, "http://"+addr+"/metrics", "")
	if !strings.Contains(metrics, `bantin_bounces_total{kind="hard",source="smtp"} 1`) {
		t.Errorf("/metrics lacks the smtp hard bounce:\n%s", grepLines(metrics, "bantin_bounces"))
	}
}

func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// runBinary runs the binary in dir with env and returns its exit status
// and output.
func runBinary(t *testing.T, dir, stdin string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir, cmd.Env, cmd.Stdin = dir, env, strings.NewReader(stdin)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatal(err)
	}
	return cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()
}

// mustRunStdin runs the binary with stdin and fails the test on another
// exit status than want.
func mustRunStdin(t *testing.T, dir, stdin string, want int, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := runBinary(t, dir, stdin, cleanEnv(), args...)
	if code != want {
		t.Fatalf("bantin %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out, errOut
}

// TestConfirmationEmailReturnPathAtSubscribeBounceLimit1: with the file
// transport the confirmation email's envelope sender is seen as its
// Return-Path header, a VERP address of its own; a bounce that names no
// address but came back to it bounces the person who signed up.
func TestConfirmationEmailReturnPathAtSubscribeBounceLimit1(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(addr, "digest-token")+`newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
mail:
  from: "Báo Mẫu <news@baomau.vn>"
  return_path: bounces@baomau.vn
subscribe:
  bounce_limit: 1
`)
	startServe(t, dir, addr)
	code, body := httpDo(t, "POST", "http://"+addr+"/subscribe", "application/x-www-form-urlencoded", "email=moi%40example.vn&list=sang", "")
	if code != http.StatusOK {
		t.Fatalf("sign-up: %d %s", code, body)
	}
	var eml string
	waitFor(t, 10*time.Second, "the confirmation email", func() bool {
		files := emlFiles(t, filepath.Join(dir, "data", "outbox"))
		if len(files) == 1 {
			eml = files[0]
		}
		return eml != ""
	})
	first, _, _ := strings.Cut(eml, "\r\n")
	rp, ok := strings.CutPrefix(first, "Return-Path: <")
	rp, _ = strings.CutSuffix(rp, ">")
	if !ok || !verpFrom.MatchString(rp) {
		t.Fatalf("the confirmation email starts %q; want Return-Path: <bounces+TOKEN@baomau.vn>", first)
	}
	out, _ := mustRunStdin(t, dir, noAddress(rp), 0, "bounces", "import", "-")
	if out != "bounces import: 0 counted, 1 bounced, 0 unsubscribed, 0 duplicates, 0 ignored, 0 unknown\n" {
		t.Errorf("import of the confirmation's bounce: %q", out)
	}
	var got struct {
		Bounces []struct{ Email, Outcome string } `json:"bounces"`
	}
	api(t, "GET", "http://"+addr+"/api/v1/bounces?kind=hard", &got)
	if len(got.Bounces) != 1 || got.Bounces[0].Email != "moi@example.vn" || got.Bounces[0].Outcome != "bounced" {
		t.Errorf("GET /api/v1/bounces?kind=hard = %+v; want moi@example.vn bounced", got.Bounces)
	}
}
