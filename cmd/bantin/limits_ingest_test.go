package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// articleIn is an article of the given id in n categories.
func articleIn(id string, n int) string {
	cats := make([]string, n)
	for i := range cats {
		cats[i] = fmt.Sprintf("Chuyên mục %d", i)
	}
	b, _ := json.Marshal(map[string]any{"id": id, "title": "Bài " + id, "summary": "Tóm tắt.", "categories": cats})
	return string(b)
}

// apiError is the SPEC §4 error shape.
type apiError struct {
	Error string `json:"error"`
	Field string `json:"field"`
}

// TestArticlesRefuseMoreThanLimitsCategories5: with limits.categories 5,
// an article in 6 categories is refused by the admin API (400 naming the
// field; nothing of the request stored) and by bantin ingest (file, line
// and reason; the rest of the file goes in). An id with a control
// character is refused the same way, and unbalanced HTML no longer
// swallows the page around it.
func TestArticlesRefuseMoreThanLimitsCategories5(t *testing.T) {
	const token = "limits-ingest-token"
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, serveConfig(addr, token)+"limits:\n  categories: 5\nlog:\n  level: warn\n")

	// bantin ingest: line 2 is refused, lines 1 and 3 go in.
	file := filepath.Join(dir, "bai.jsonl")
	lines := articleIn("le-1", 5) + "\n" + articleIn("le-2", 6) + "\n" + `{"id":"le-3","title":"Ba","summary":"x"}` + "\n"
	if err := os.WriteFile(file, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := bantin(t, dir, "", "ingest", "bai.jsonl")
	if code != 1 || !strings.Contains(out, "2 created") || !strings.Contains(out, "1 rejected") ||
		!strings.Contains(errOut, "bai.jsonl:2: categories: 6 distinct categories; at most 5 (limits.categories)") {
		t.Fatalf("ingest: exit %d\nstdout: %s\nstderr: %s", code, out, errOut)
	}

	d := startServe(t, dir, addr)
	base := "http://" + addr
	post := func(body string) (int, apiError) {
		t.Helper()
		code, out := httpDo(t, "POST", base+"/api/v1/articles", "application/json", body, token)
		var e apiError
		if code/100 != 2 {
			if err := json.Unmarshal([]byte(out), &e); err != nil {
				t.Fatalf("POST answered %d with %q: %v", code, out, err)
			}
		}
		return code, e
	}
	stored := func(id string) bool {
		t.Helper()
		code, _ := httpGet(t, base+"/api/v1/articles/"+id, token)
		return code == 200
	}

	if code, e := post(articleIn("api-6", 6)); code != 400 || e.Field != "categories" || !strings.Contains(e.Error, "at most 5 (limits.categories)") {
		t.Errorf("6 categories: %d %+v; want 400 on categories", code, e)
	}
	if stored("api-6") {
		t.Error("the refused article was stored")
	}
	// A batch with one article over the limit stores nothing.
	if code, e := post("[" + articleIn("api-lo-1", 2) + "," + articleIn("api-lo-2", 2000) + "]"); code != 400 || e.Field != "articles[1].categories" {
		t.Errorf("batch: %d %+v; want 400 on articles[1].categories", code, e)
	}
	if stored("api-lo-1") || stored("api-lo-2") {
		t.Error("an article of the refused batch was stored")
	}
	if code, e := post(articleIn("api-5", 5)); code != 201 {
		t.Errorf("5 categories: %d %+v; want 201", code, e)
	}

	// Control characters in an id.
	for _, id := range []string{"tin\u202Efdp", "dong\r\nhai", "tab\there", "c1\u0085x"} {
		body, _ := json.Marshal(map[string]string{"id": id, "title": "Id lạ", "summary": "x"})
		if code, e := post(string(body)); code != 400 || e.Field != "id" || !strings.Contains(e.Error, "control character") {
			t.Errorf("id %q: %d %+v; want 400 on id", id, code, e)
		}
	}
	if code, out, _ := bantin(t, dir, "", "articles", "list"); code != 0 || strings.ContainsAny(out, "\r\u202e\u0085") {
		t.Errorf("articles list: exit %d\n%q", code, out)
	}

	// Unbalanced HTML stays inside the article: the page's own end is
	// there, after the content's forced ends.
	body, _ := json.Marshal(map[string]string{"id": "html-hong", "title": "HTML hỏng",
		"content_html": "<p>trước</p></div></div></main><table><tr><td>ô<details open><summary>xem</summary>bên trong"})
	if code, e := post(string(body)); code != 201 {
		t.Fatalf("unbalanced HTML: %d %+v", code, e)
	}
	code, page := httpGet(t, base+"/articles/html-hong", "")
	want := "<p>trước</p><table><tbody><tr><td>ô<details open=\"\"><summary>xem</summary>bên trong</details></td></tr></tbody></table>"
	if code != 200 || !strings.Contains(page, want) {
		t.Errorf("article page (%d) lacks the balanced content %q", code, want)
	}
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-d.exited:
	case <-time.After(10 * time.Second):
		t.Fatal("serve did not stop within 10 s of SIGTERM")
	}
}

// TestWatchFolderFIFOAndSymlinkLimitsIngest: a named pipe in the watch
// folder (there at start, and made while serving) holds back neither a
// good file written after it nor SIGTERM; a link to a file outside the
// folder is not published. Both are named in the log.
func TestWatchFolderFIFOAndSymlinkLimitsIngest(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	inbox := filepath.Join(dir, "inbox")
	if err := os.MkdirAll(inbox, 0o755); err != nil {
		t.Fatal(err)
	}
	fifo := func(name string) {
		t.Helper()
		if err := syscall.Mkfifo(filepath.Join(inbox, name), 0o644); err != nil {
			if os.Getenv("BANTIN_TEST_ALL") == "1" {
				t.Fatalf("mkfifo: %v", err)
			}
			t.Skipf("mkfifo: %v", err)
		}
	}
	fifo("0-ong.json")
	secret := filepath.Join(dir, "secret.json")
	if err := os.WriteFile(secret, []byte(`{"id":"bi-mat","title":"Bí mật ngoài thư mục","summary":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(secret, filepath.Join(inbox, "1-lien-ket.json")); err != nil {
		t.Fatal(err)
	}
	writeConfig(t, dir, serveConfig(addr, "")+"ingest:\n  watch_dir: inbox\nlog:\n  level: info\n")
	d := startServe(t, dir, addr)
	base := "http://" + addr

	fifo("2-ong-nua.jsonl")
	if err := os.WriteFile(filepath.Join(inbox, "3-tot.json"), []byte(`{"id":"tot","title":"Bài tốt sau ống","summary":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the good file's article in /feeds/rss.xml", func() bool {
		_, feed := httpGet(t, base+"/feeds/rss.xml", "")
		return strings.Contains(feed, "Bài tốt sau ống")
	})
	waitFor(t, 2*time.Second, "the pipes and the link named in the log", func() bool {
		l := d.logs.String()
		return strings.Contains(l, "0-ong.json") && strings.Contains(l, "2-ong-nua.jsonl") && strings.Contains(l, "1-lien-ket.json")
	})
	if _, feed := httpGet(t, base+"/feeds/rss.xml", ""); strings.Contains(feed, "Bí mật") {
		t.Error("a file outside the watch folder was published through a link")
	}

	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	select {
	case err := <-d.exited:
		if err != nil {
			t.Errorf("serve after SIGTERM: %v", err)
		}
		t.Logf("serve stopped %v after SIGTERM", time.Since(start).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("serve did not stop within 5 s of SIGTERM")
	}
}
