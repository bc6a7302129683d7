package main

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
