package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/mail/smtptest"
)

// addArticle writes one article file in dir and ingests it.
func addArticle(t *testing.T, dir, id, title string) {
	t.Helper()
	page := fmt.Sprintf(`{"id": %q, "title": %q, "summary": "Tóm tắt.", "content_html": "<p>Nội dung.</p>"}`, id, title)
	if err := os.WriteFile(filepath.Join(dir, id+".json"), []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, 0, "ingest", id+".json")
}

// subjectOf decodes the Subject header of a raw message.
func subjectOf(t *testing.T, raw []byte) string {
	t.Helper()
	m, err := netmail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	s, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// logLine is what a slog line looks like, in text or JSON.
var logLine = regexp.MustCompile(`level=|"level":|msg=`)

// TestDigestSendSummaryOnStdoutLogsOnStderrQuietErrorsOnly: what digest
// send did is on stdout and nowhere else, its log lines on stderr and
// nowhere else; --quiet prints nothing when all goes well and only the
// error when it does not.
func TestDigestSendSummaryOnStdoutLogsOnStderrQuietErrorsOnly(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := digestDir(t, freeAddr(t), srv.Port)
	mustRun(t, dir, 0, "subscribers", "add", "sang", "an@example.vn", "--confirmed")

	out, errOut := mustRun(t, dir, 0, "digest", "send", "sang")
	for _, want := range []string{"issue 1 of sang made: 1 article, 1 delivery\n", "sang: 1 sent, 0 failed, 0 skipped, 0 queued for retry by serve\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout lacks %q:\n%s", want, out)
		}
		if strings.Contains(errOut, strings.TrimSpace(want)) {
			t.Errorf("stderr repeats the summary %q:\n%s", want, errOut)
		}
	}
	if logLine.MatchString(out) {
		t.Errorf("stdout holds log lines:\n%s", out)
	}
	if !strings.Contains(errOut, `msg="digest: issue made"`) {
		t.Errorf("stderr lacks the log line of the issue:\n%s", errOut)
	}

	// --quiet, with something to send: silence, and the copy is sent.
	addArticle(t, dir, "bai-2", "Giá cà phê giảm")
	out, errOut = mustRun(t, dir, 0, "digest", "send", "sang", "--quiet")
	if out != "" || errOut != "" {
		t.Errorf("digest send --quiet printed\nstdout: %q\nstderr: %q", out, errOut)
	}
	if n := srv.Counts()["an@example.vn"]; n != 2 {
		t.Errorf("an@example.vn got %d copies after the quiet send; want 2", n)
	}
	// --quiet with nothing new: silence too.
	out, errOut = mustRun(t, dir, 0, "digest", "send", "sang", "-q")
	if out != "" || errOut != "" {
		t.Errorf("digest send -q with nothing new printed\nstdout: %q\nstderr: %q", out, errOut)
	}

	// --quiet when the relay refuses: the error alone, on stderr, in the
	// singular for one copy and in the plural for three tries.
	addArticle(t, dir, "bai-3", "Mưa lớn ở miền Trung")
	config, err := os.ReadFile(filepath.Join(dir, "config", "bantin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	closed := smtptest.ClosedPort(t)
	_, port, _ := strings.Cut(closed, ":")
	writeConfig(t, dir, strings.Replace(string(config), fmt.Sprintf("port: %d", srv.Port), "port: "+port, 1))
	cmd := exec.Command(binary(t), "digest", "send", "sang", "--quiet")
	cmd.Dir, cmd.Env = dir, relayEnv()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	_ = cmd.Run()
	if code := cmd.ProcessState.ExitCode(); code != 1 {
		t.Errorf("digest send --quiet to a refusing relay: exit %d, want 1", code)
	}
	if stdout.Len() != 0 {
		t.Errorf("digest send --quiet to a refusing relay printed on stdout: %q", stdout.String())
	}
	if e := stderr.String(); !strings.Contains(e, "1 copy of sang issue 3 waits in the queue, none failed; serve sends it once") || !strings.Contains(e, "after 3 tries") ||
		!strings.Contains(e, closed) || logLine.MatchString(e) {
		t.Errorf("digest send --quiet to a refusing relay: stderr should name the relay and the one copy that waits, without log lines:\n%s", e)
	}
	_, errOut = mustRun(t, dir, 2, "digest", "send", "sang", "--quiet", "--dry-run")
	if !strings.Contains(errOut, "--dry-run") {
		t.Errorf("--quiet with --dry-run: %s", errOut)
	}
}

// TestDigestSummariesSayOneArticleOneDelivery: every count in the digest
// commands' summaries takes the singular for one.
func TestDigestSummariesSayOneArticleOneDelivery(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := digestDir(t, freeAddr(t), srv.Port)
	mustRun(t, dir, 0, "subscribers", "add", "sang", "an@example.vn", "--confirmed")

	out, _ := mustRun(t, dir, 0, "digest", "send", "sang", "--dry-run")
	if !strings.Contains(out, "sang issue 1 would hold 1 article for 1 confirmed subscriber:") {
		t.Errorf("dry run: %s", out)
	}
	_, errOut := mustRun(t, dir, 0, "digest", "preview", "sang")
	if !strings.Contains(errOut, "preview of sang issue 1: 1 article\n") {
		t.Errorf("preview: %s", errOut)
	}
	out, _ = mustRun(t, dir, 0, "digest", "send", "sang", "--to", "editor@example.vn")
	if !strings.Contains(out, "1 article,") || strings.Contains(out, "1 articles") {
		t.Errorf("test copy: %s", out)
	}
	out, _ = mustRun(t, dir, 0, "digest", "send", "sang")
	if !strings.Contains(out, "made: 1 article, 1 delivery") {
		t.Errorf("send: %s", out)
	}
	out, _ = mustRun(t, dir, 0, "digest", "status", "sang")
	if !strings.Contains(out, "1 confirmed") || !strings.Contains(out, "0 copies waiting") {
		t.Errorf("status: %s", out)
	}
	for _, o := range []string{out} {
		if regexp.MustCompile(`\b1 (articles|deliveries|copies|subscribers|tries)\b`).MatchString(o) {
			t.Errorf("a plural for one: %s", o)
		}
	}
}

// TestCLISummariesSayOneEntryOneRowOneArgument: the other commands'
// summaries and usage errors take the singular for one too.
func TestCLISummariesSayOneEntryOneRowOneArgument(t *testing.T) {
	upstream := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/rss+xml; charset=utf-8")
		fmt.Fprint(w, `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>Huyện</title><link>https://huyen.example/</link>
<description>d</description><item><title>Tin từ huyện</title><link>https://huyen.example/1</link><guid>h-1</guid><description>Mô tả.</description></item></channel></rss>`)
	}))
	defer upstream.Close()
	dir := subscribersDir(t)
	config, err := os.ReadFile(filepath.Join(dir, "config", "bantin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, string(config)+fmt.Sprintf("ingest:\n  sources:\n    - {name: huyen, url: %q, interval: 1h}\n", upstream.URL+"/feed"))

	out, _ := mustRun(t, dir, 0, "sources", "poll", "huyen")
	if !strings.Contains(out, "huyen: 1 entry: 1 created") {
		t.Errorf("sources poll of one entry: %s", out)
	}
	if err := os.WriteFile(filepath.Join(dir, "one.csv"), []byte("mot@example.vn,Một\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = mustRun(t, dir, 0, "subscribers", "import", "ban-tin-sang", "one.csv", "--confirmed")
	if !strings.Contains(out, "1 added, 0 already there, 0 rejected (1 row)") {
		t.Errorf("import of one row: %s", out)
	}
	_, errOut := mustRun(t, dir, 2, "digest", "send")
	if !strings.Contains(errOut, "takes 1 argument, got 0") {
		t.Errorf("digest send without a list: %s", errOut)
	}
	_, errOut = mustRun(t, dir, 2, "digest", "status", "a", "b")
	if !strings.Contains(errOut, "takes 0 to 1 arguments, got 2") {
		t.Errorf("digest status with two lists: %s", errOut)
	}
	out, _ = mustRun(t, dir, 0, "feeds", "build", "--out", filepath.Join(dir, "site"))
	if !strings.Contains(out, " for 1 feed under ") { // the site-wide feed: the entry has no category
		t.Errorf("feeds build: %s", out)
	}
}

// statusDir is a working folder with two lists in two zones, sending
// through the SMTP server at port, served at addr.
func statusDir(t *testing.T, addr string, port int) string {
	t.Helper()
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(addr, "digest-token")+fmt.Sprintf(`newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
  - {id: tokyo, title: "Tin Nhật Bản", schedule: "30 18 * * 1", timezone: Asia/Tokyo, categories: [nhat-ban]}
mail:
  from: "Báo Mẫu <news@baomau.vn>"
  transport: smtp
  smtp: {host: 127.0.0.1, port: %d, tls: none}
`, port))
	addArticle(t, dir, "bai-1", "Công tác dân vận góp phần gắn kết")
	for _, e := range []string{"an@example.vn", "binh@example.vn"} {
		mustRun(t, dir, 0, "subscribers", "add", "sang", e, "--confirmed")
	}
	mustRun(t, dir, 0, "subscribers", "add", "sang", "chua-xac-nhan@example.vn")
	mustRun(t, dir, 0, "digest", "send", "sang")
	addArticle(t, dir, "bai-2", "Giá lúa tăng nhẹ")
	return dir
}

// TestDigestStatusShowsLastIssueNextRunInListZoneSubscribersQueue: digest
// status shows, for each list, its schedule and zone, its last issue with
// its counts, its next run in the list's own zone, the articles waiting,
// its confirmed subscribers and its queue; LIST narrows it to one list.
func TestDigestStatusShowsLastIssueNextRunInListZoneSubscribersQueue(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	dir := statusDir(t, freeAddr(t), srv.Port)

	out, errOut := mustRun(t, dir, 0, "digest", "status")
	sang, tokyo, ok := strings.Cut(out, "\ntokyo — Tin Nhật Bản\n")
	if !ok || !strings.HasPrefix(sang, "sang — Bản tin sáng\n") {
		t.Fatalf("digest status: want both lists, sang then tokyo:\n%s\nstderr: %s", out, errOut)
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`schedule +0 6 \* \* \*, Asia/Ho_Chi_Minh \(every category\)`),
		regexp.MustCompile(`last issue +#1 sent \w{3} \d{4}-\d\d-\d\d \d\d:\d\d \+07:00: 2 sent, 0 failed, 0 skipped, 0 queued`),
		regexp.MustCompile(`"Bản tin sáng — [^"]+"`),
		regexp.MustCompile(`next run +\w{3} \d{4}-\d\d-\d\d 06:00 \+07:00 \(in (\d+h\d\dm|\d+m|under a minute)\)`),
		regexp.MustCompile(`next issue +1 article so far\n`),
		regexp.MustCompile(`subscribers +2 confirmed\n`),
		regexp.MustCompile(`queue +0 copies waiting to be sent\n`),
	} {
		if !want.MatchString(sang) {
			t.Errorf("sang's status does not match %s:\n%s", want, sang)
		}
	}
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`schedule +30 18 \* \* 1, Asia/Tokyo \(nhat-ban\)`),
		regexp.MustCompile(`last issue +none yet`),
		regexp.MustCompile(`next run +Mon \d{4}-\d\d-\d\d 18:30 \+09:00 \(in `),
		regexp.MustCompile(`next issue +0 articles so far: no issue unless articles come`),
		regexp.MustCompile(`subscribers +0 confirmed`),
	} {
		if !want.MatchString(tokyo) {
			t.Errorf("tokyo's status does not match %s:\n%s", want, tokyo)
		}
	}
	one, _ := mustRun(t, dir, 0, "digest", "status", "tokyo")
	if strings.Contains(one, "sang") || !strings.HasPrefix(one, "tokyo — ") {
		t.Errorf("digest status tokyo:\n%s", one)
	}
	_, errOut = mustRun(t, dir, 1, "digest", "status", "khong-co")
	if !strings.Contains(errOut, `newsletter "khong-co"`) || !strings.Contains(errOut, "sang, tokyo") {
		t.Errorf("digest status of an unknown list: %s", errOut)
	}
}

// apiNewsletterJSON is a list's status at GET /api/v1/newsletters.
type apiNewsletterJSON struct {
	ID         string   `json:"id"`
	Title      string   `json:"title"`
	Schedule   string   `json:"schedule"`
	Timezone   string   `json:"timezone"`
	Categories []string `json:"categories"`
	LastIssue  *struct {
		Number  int            `json:"number"`
		Subject string         `json:"subject"`
		Status  string         `json:"status"`
		SentAt  string         `json:"sent_at"`
		URL     string         `json:"url"`
		Counts  map[string]int `json:"counts"`
	} `json:"last_issue"`
	NextRun     *string `json:"next_run"`
	NewArticles int     `json:"new_articles"`
	Confirmed   int     `json:"confirmed_subscribers"`
	Queued      int     `json:"queued"`
}

// TestNewsletterStatusAPIAllListsAndOneWithAdminToken: GET
// /api/v1/newsletters gives every list's status as JSON, times in the
// list's zone; GET /api/v1/newsletters/{list} one; the token is asked.
func TestNewsletterStatusAPIAllListsAndOneWithAdminToken(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{})
	addr := freeAddr(t)
	dir := statusDir(t, addr, srv.Port)
	startServe(t, dir, addr)
	base := "http://" + addr + "/api/v1/newsletters"

	var all struct {
		Newsletters []apiNewsletterJSON `json:"newsletters"`
	}
	if code := api(t, "GET", base, &all); code != http.StatusOK || len(all.Newsletters) != 2 {
		t.Fatalf("GET %s: %d %+v", base, code, all)
	}
	sang, tokyo := all.Newsletters[0], all.Newsletters[1]
	if sang.ID != "sang" || sang.Title != "Bản tin sáng" || sang.Schedule != "0 6 * * *" || sang.Timezone != "Asia/Ho_Chi_Minh" ||
		sang.Confirmed != 2 || sang.Queued != 0 || sang.NewArticles != 1 || sang.NextRun == nil ||
		!regexp.MustCompile(`^\d{4}-\d\d-\d\dT06:00:00\+07:00$`).MatchString(*sang.NextRun) {
		t.Errorf("sang: %+v", sang)
	}
	if l := sang.LastIssue; l == nil || l.Number != 1 || l.Status != "sent" || l.Counts["sent"] != 2 || l.Counts["queued"] != 0 ||
		!strings.HasSuffix(l.SentAt, "+07:00") || l.URL != "http://"+addr+"/newsletters/sang/1" || !strings.HasPrefix(l.Subject, "Bản tin sáng") {
		t.Errorf("sang's last issue: %+v", l)
	}
	if tokyo.ID != "tokyo" || tokyo.Timezone != "Asia/Tokyo" || tokyo.LastIssue != nil || tokyo.NextRun == nil ||
		!regexp.MustCompile(`T18:30:00\+09:00$`).MatchString(*tokyo.NextRun) || len(tokyo.Categories) != 1 || tokyo.Confirmed != 0 {
		t.Errorf("tokyo: %+v", tokyo)
	}
	if next, err := time.Parse(time.RFC3339, *tokyo.NextRun); err != nil || next.Weekday() != time.Monday || !next.After(time.Now()) {
		t.Errorf("tokyo's next run %s is not a coming Monday (%v)", *tokyo.NextRun, err)
	}

	var one apiNewsletterJSON
	if code := api(t, "GET", base+"/sang", &one); code != http.StatusOK || one.ID != "sang" || one.LastIssue == nil || one.LastIssue.Number != 1 {
		t.Errorf("GET %s/sang: %d %+v", base, code, one)
	}
	if code, body := httpGet(t, base+"/khong-co", "digest-token"); code != http.StatusNotFound || !strings.Contains(body, `"field": "list"`) {
		t.Errorf("an unknown list: %d %s", code, body)
	}
	if code, _ := httpGet(t, base, ""); code != http.StatusUnauthorized {
		t.Errorf("without the token: %d, want 401", code)
	}
	if code, _ := httpGet(t, base+"/sang", "wrong"); code != http.StatusForbidden {
		t.Errorf("with a wrong token: %d, want 403", code)
	}
	var check map[string]any
	_, body := httpGet(t, base+"/sang", "digest-token")
	if err := json.Unmarshal([]byte(body), &check); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"id", "title", "schedule", "timezone", "last_issue", "next_run", "confirmed_subscribers", "queued"} {
		if _, ok := check[k]; !ok {
			t.Errorf("GET %s/sang lacks %q: %s", base, k, body)
		}
	}
}

// TestDigestSendToWithNothingNewSendsLastIssueMarkedTest: digest send --to
// with nothing new since the last issue sends the last issue's articles,
// the subject marked "[Thử]" (vi) or "[Test]" (en), and records nothing.
func TestDigestSendToWithNothingNewSendsLastIssueMarkedTest(t *testing.T) {
	for _, tc := range []struct{ lang, mark string }{{"vi", "[Thử] "}, {"en", "[Test] "}} {
		t.Run(tc.lang, func(t *testing.T) {
			srv := smtptest.Start(t, smtptest.Options{KeepData: true})
			addr := freeAddr(t)
			dir := digestDir(t, addr, srv.Port)
			config, err := os.ReadFile(filepath.Join(dir, "config", "bantin.yaml"))
			if err != nil {
				t.Fatal(err)
			}
			writeConfig(t, dir, strings.Replace(string(config), "site:\n", "site:\n  language: "+tc.lang+"\n", 1))
			mustRun(t, dir, 0, "subscribers", "add", "sang", "an@example.vn", "--confirmed")
			mustRun(t, dir, 0, "digest", "send", "sang")
			var issueSubject string
			for _, m := range srv.Messages() {
				issueSubject = subjectOf(t, m.Data)
			}

			out, errOut := mustRun(t, dir, 0, "digest", "send", "sang", "--to", "editor@example.vn")
			if !strings.Contains(out, "test copy of sang issue 1 again") || !strings.Contains(out, "nothing recorded") {
				t.Errorf("digest send --to with nothing new:\nstdout: %s\nstderr: %s", out, errOut)
			}
			var got []smtptest.Message
			for _, m := range srv.Messages() {
				if m.To == "editor@example.vn" {
					got = append(got, m)
				}
			}
			if len(got) != 1 {
				t.Fatalf("editor@example.vn got %d messages, want 1", len(got))
			}
			if s := subjectOf(t, got[0].Data); s != tc.mark+issueSubject {
				t.Errorf("subject %q, want %q", s, tc.mark+issueSubject)
			}
			// The article's link, its quoted-printable soft breaks undone.
			if body := strings.ReplaceAll(string(got[0].Data), "=\r\n", ""); !strings.Contains(body, "/articles/cong-tac-dan-van-gop-phan-gan-ket") {
				t.Errorf("the test copy lacks the last issue's article:\n%.1500s", got[0].Data)
			}
			// Recorded nowhere: still one issue, and no delivery to the editor.
			status, _ := mustRun(t, dir, 0, "digest", "status", "sang")
			if !strings.Contains(status, "last issue   #1 sent") || !strings.Contains(status, "1 sent, 0 failed") {
				t.Errorf("status after the test copy:\n%s", status)
			}
			if n := srv.Counts()["an@example.vn"]; n != 1 {
				t.Errorf("the subscriber got %d copies; want the one of the issue", n)
			}
		})
	}
}

// TestDigestStatusAndPreviewNeverMakeAStore: the digest commands that only
// read, run where there is no store yet, say so and make none.
func TestDigestStatusAndPreviewNeverMakeAStore(t *testing.T) {
	dir := subscribersDir(t)
	for _, args := range [][]string{{"digest", "status"}, {"digest", "status", "ban-tin-sang"}, {"digest", "preview", "ban-tin-sang"}} {
		_, errOut := mustRun(t, dir, 1, args...)
		if !strings.Contains(errOut, "no store at ") {
			t.Errorf("bantin %s without a store: %s", strings.Join(args, " "), errOut)
		}
		if _, err := os.Stat(filepath.Join(dir, "data")); !os.IsNotExist(err) {
			t.Fatalf("bantin %s made data/ (%v)", strings.Join(args, " "), err)
		}
	}
}
