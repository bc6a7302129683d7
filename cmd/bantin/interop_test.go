package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	netmail "net/mail"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/mail/smtptest"
)

// serveUmask022 runs `bantin serve` in dir under umask 022 (a shell sets it:
// the umask is process-wide, so the test's own is left alone) and waits
// for /healthz.
func serveUmask022(t *testing.T, dir, addr string) *syncBuffer {
	t.Helper()
	cmd := exec.Command("/bin/sh", "-c", `umask 022; exec "$0" serve`, binary(t))
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("serve log:\n%s", logs.String())
		}
	})
	waitFor(t, 10*time.Second, "serve to answer /healthz", func() bool {
		status, _ := statusOf("http://" + addr + "/healthz")
		return status == 200
	})
	return &logs
}

// statusOf is httpGet for polling: an error is status 0.
func statusOf(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, ""
	}
	defer resp.Body.Close()
	return resp.StatusCode, ""
}

// modes returns the permission bits of the store's files that exist.
func modes(t *testing.T, dir string) map[string]os.FileMode {
	t.Helper()
	got := map[string]os.FileMode{}
	for _, name := range []string{"data", "data/bantin.db", "data/bantin.db-wal", "data/bantin.db-shm"} {
		fi, err := os.Stat(filepath.Join(dir, name))
		if err == nil {
			got[name] = fi.Mode().Perm()
		}
	}
	return got
}

// TestStoreFilesPrivateUnderUmask022: the SQLite store (it holds the
// link-signing key), its WAL and SHM are 0600 and the data folder bantin
// makes is 0700, under umask 022; a store left 0644 by an older bantin is
// made 0600 when opened.
func TestStoreFilesPrivateUnderUmask022(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, serveConfig(addr, "interop-token"))
	article := `{"id":"a","title":"Tin một","summary":"Tóm tắt","published_at":"2024-03-28T08:00:00+07:00"}`
	cmd := exec.Command("/bin/sh", "-c", `umask 022; exec "$0" ingest -`, binary(t))
	cmd.Dir, cmd.Env, cmd.Stdin = dir, cleanEnv(), strings.NewReader(article+"\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("ingest: %v\n%s", err, out)
	}
	check := func(when string, need ...string) {
		t.Helper()
		got := modes(t, dir)
		for _, name := range need {
			if _, ok := got[name]; !ok {
				t.Errorf("%s: %s does not exist", when, name)
			}
		}
		for name, mode := range got {
			want := os.FileMode(0o600)
			if name == "data" {
				want = 0o700
			}
			if mode != want {
				t.Errorf("%s: %s is %04o, want %04o", when, name, mode, want)
			}
		}
	}
	check("after ingest", "data", "data/bantin.db")

	// An older bantin left the store readable by all.
	if err := os.Chmod(filepath.Join(dir, "data/bantin.db"), 0o644); err != nil {
		t.Fatal(err)
	}
	serveUmask022(t, dir, addr)
	if status, body := httpDo(t, "POST", "http://"+addr+"/api/v1/articles", "application/json",
		`{"id":"b","title":"Tin hai","summary":"Tóm tắt","published_at":"2024-03-29T08:00:00+07:00"}`, "interop-token"); status >= 300 {
		t.Fatalf("POST article: %d %s", status, body)
	}
	check("while serve runs", "data", "data/bantin.db", "data/bantin.db-wal", "data/bantin.db-shm")
}

// TestDatesBefore1970OrPast5YearsRefused: a date before 1970 (the zero
// time 0001-01-01, which used to become "now") or more than 5 years ahead
// is refused naming the field: a file with its line, the API with 400
// and the field; an article scheduled within 5 years is taken.
func TestDatesBefore1970OrPast5YearsRefused(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, serveConfig(addr, "interop-token"))
	soon := time.Now().AddDate(4, 0, 0).UTC().Format(time.RFC3339)
	far := time.Now().AddDate(5, 1, 0).UTC().Format(time.RFC3339)
	lines := `{"id":"a","title":"Tin một","summary":"x","published_at":"2024-03-28T08:00:00+07:00"}
{"id":"b","title":"Tin hai","summary":"x","published_at":"0001-01-01T00:00:00Z"}
{"id":"c","title":"Tin ba","summary":"x","published_at":"2024-03-28T08:00:00+07:00","updated_at":"` + far + `"}
{"id":"d","title":"Tin bốn","summary":"x","published_at":"` + soon + `"}
`
	if err := os.WriteFile(filepath.Join(dir, "tin.jsonl"), []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := bantin(t, dir, "", "ingest", "tin.jsonl")
	if code != 1 || !strings.Contains(out, "2 created") {
		t.Errorf("ingest: exit %d, %q; want 1 and 2 created", code, out)
	}
	for _, want := range []string{"tin.jsonl:2", "published_at", "before 1970-01-01", "tin.jsonl:3", "updated_at", "more than 5 years ahead; a scheduled article is published within 5 years"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("ingest stderr lacks %q:\n%s", want, errOut)
		}
	}
	serveUmask022(t, dir, addr)
	status, body := httpDo(t, "POST", "http://"+addr+"/api/v1/articles", "application/json",
		`{"id":"e","title":"Tin năm","summary":"x","published_at":"0001-01-01T00:00:00Z"}`, "interop-token")
	var e struct{ Error, Field string }
	_ = json.Unmarshal([]byte(body), &e)
	if status != http.StatusBadRequest || e.Field != "published_at" || !strings.Contains(e.Error, "before 1970-01-01") {
		t.Errorf("POST a zero date: %d %s; want 400 naming published_at", status, body)
	}
	if status, body := httpGet(t, "http://"+addr+"/api/v1/articles/e", "interop-token"); status != http.StatusNotFound {
		t.Errorf("the refused article: %d %s, want 404", status, body)
	}
}

// firstHeaderLine returns the first line of a header field in raw.
func firstHeaderLine(raw []byte, name string) string {
	head, _, _ := strings.Cut(string(raw), "\r\n\r\n")
	for _, l := range strings.Split(head, "\r\n") {
		if strings.HasPrefix(strings.ToLower(l), strings.ToLower(name)+":") {
			return l
		}
	}
	return ""
}

// pythonSubject reads raw's Subject with Python's email package under the
// compat32 policy: the field's value as Python keeps it, and decoded.
func pythonSubject(t *testing.T, raw []byte) (value, decoded string) {
	t.Helper()
	py, err := exec.LookPath("python3")
	if err != nil {
		if os.Getenv("BANTIN_TEST_ALL") != "" {
			t.Fatal("python3 is not installed (BANTIN_TEST_ALL is set)")
		}
		t.Log("python3 is not installed: the subject is not read by Python's email")
		return "", ""
	}
	cmd := exec.Command(py, "-c", `import sys, email, email.header, email.policy
m = email.message_from_bytes(sys.stdin.buffer.read(), policy=email.policy.compat32)
s = m["Subject"]
sys.stdout.write(s + "\0" + str(email.header.make_header(email.header.decode_header(s))))`)
	cmd.Stdin = bytes.NewReader(raw)
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v", err)
	}
	value, decoded, _ = strings.Cut(string(out), "\x00")
	return value, decoded
}

// checkSubject: the Subject's first encoded word is on the field's line,
// and Python (compat32) reads no leading space.
func checkSubject(t *testing.T, what string, raw []byte) {
	t.Helper()
	if l := firstHeaderLine(raw, "Subject"); !strings.HasPrefix(l, "Subject: =?") {
		t.Errorf("%s: first Subject line %q, want \"Subject: =?…\"", what, l)
	}
	value, decoded := pythonSubject(t, raw)
	if value != strings.TrimLeft(value, " \t\r\n") || strings.HasPrefix(decoded, " ") {
		t.Errorf("%s: Python (compat32) reads the subject %q (decoded %q), with a leading space", what, value, decoded)
	}
}

// TestAddressesAndHeadersAsTyped drives the binary: every way in (CLI,
// CSV import, API, form) refuses a@-example.com, a@exa_mple.com and a
// non-ASCII local part; an internationalised domain is stored as IDNA
// A-labels with the domain lower-cased; a name typed as an encoded word
// reaches the To header as text; the digest and the confirmation email
// received by the relay have "Subject: =?" on their first line.
func TestAddressesAndHeadersAsTyped(t *testing.T) {
	srv := smtptest.Start(t, smtptest.Options{KeepData: true})
	addr := freeAddr(t)
	dir := digestDir(t, addr, srv.Port)

	for _, bad := range []string{"a@-example.com", "a@exa_mple.com", "a@example-.com", "a@localhost", "ngọc@example.vn"} {
		if code, out, errOut := bantin(t, dir, "", "subscribers", "add", "sang", bad, "--confirmed"); code == 0 || !strings.Contains(errOut, "email") {
			t.Errorf("subscribers add %s: exit %d, %s%s; want a refusal naming the email", bad, code, out, errOut)
		}
	}
	if code, _, errOut := bantin(t, dir, "", "subscribers", "add", "sang", "ngọc@example.vn", "--confirmed"); code == 0 || !strings.Contains(errOut, "not ASCII") {
		t.Errorf("subscribers add ngọc@example.vn: exit %d, %s; want the reason (not ASCII)", code, errOut)
	}
	const evil = "=?UTF-8?B?eEBldmlsLmV4YW1wbGU+LCA8eQ==?="
	mustRun(t, dir, 0, "subscribers", "add", "sang", "Nu@Báomẫu.VN", "--name", evil, "--confirmed")
	csv := "email,name\na@exa_mple.com,Một\nhoa@Example.VN,Hoa\na@-example.com,Hai\n"
	if err := os.WriteFile(filepath.Join(dir, "list.csv"), []byte(csv), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := bantin(t, dir, "", "subscribers", "import", "sang", "list.csv", "--confirmed")
	if !strings.Contains(errOut, "exa_mple") || !strings.Contains(errOut, "-example.com") {
		t.Errorf("import: exit %d\n%s%s; want both bad rows named", code, out, errOut)
	}
	out, _ = mustRun(t, dir, 0, "subscribers", "list", "sang")
	for _, want := range []string{"Nu@xn--bomu-5na2786b.vn", "hoa@example.vn"} {
		if !strings.Contains(out, want) {
			t.Errorf("subscribers list lacks %s:\n%s", want, out)
		}
	}
	for _, bad := range []string{"exa_mple", "-example", "Báomẫu", "Example.VN"} {
		if strings.Contains(out, bad) {
			t.Errorf("subscribers list holds %q:\n%s", bad, out)
		}
	}

	// The digest, as the relay receives it.
	mustRun(t, dir, 0, "digest", "send", "sang")
	var digest []byte
	for _, m := range srv.Messages() {
		if m.To == "Nu@xn--bomu-5na2786b.vn" {
			digest = m.Data
		}
	}
	if digest == nil {
		t.Fatalf("the relay got no digest for Nu@xn--bomu-5na2786b.vn: %v", srv.Counts())
	}
	checkSubject(t, "digest", digest)
	msg, err := netmail.ReadMessage(bytes.NewReader(digest))
	if err != nil {
		t.Fatal(err)
	}
	to, err := msg.Header.AddressList("To")
	if err != nil || len(to) != 1 || to[0].Address != "Nu@xn--bomu-5na2786b.vn" || to[0].Name != evil {
		t.Errorf("digest To %q reads %v (%v); want one address, the subscriber's, named as typed", msg.Header.Get("To"), to, err)
	}
	if l := firstHeaderLine(digest, "To"); strings.Contains(l, `"=?`) {
		t.Errorf("digest To %q quotes the typed encoded word", l)
	}

	// The API and the form, and the confirmation email.
	serveUmask022(t, dir, addr)
	base := "http://" + addr
	for _, bad := range []string{"a@-example.com", "a@exa_mple.com"} {
		status, body := httpDo(t, "POST", base+"/api/v1/subscribers", "application/json", `{"list":"sang","email":"`+bad+`","confirmed":true}`, "digest-token")
		if status != http.StatusBadRequest || !strings.Contains(body, `"field": "email"`) {
			t.Errorf("API add %s: %d %s; want 400 naming email", bad, status, body)
		}
	}
	status, page := httpDo(t, "POST", base+"/subscribe", "application/x-www-form-urlencoded", "list=sang&email="+url.QueryEscape("ngọc@example.vn"), "")
	if status != http.StatusBadRequest || !strings.Contains(page, "có dấu hoặc ký tự không phải ASCII ở phần trước @") {
		t.Errorf("form with ngọc@example.vn: %d; want 400 and the sentence on the non-ASCII part before @:\n%s", status, page)
	}
	status, page = httpDo(t, "POST", base+"/subscribe", "application/x-www-form-urlencoded", "list=sang&email="+url.QueryEscape("lan@Báomẫu.vn"), "")
	if status != http.StatusOK {
		t.Fatalf("form with lan@Báomẫu.vn: %d\n%s", status, page)
	}
	var confirm []byte
	waitFor(t, 10*time.Second, "the confirmation email at the relay", func() bool {
		for _, m := range srv.Messages() {
			if m.To == "lan@xn--bomu-5na2786b.vn" {
				confirm = m.Data
				return true
			}
		}
		return false
	})
	checkSubject(t, "confirmation", confirm)
}
