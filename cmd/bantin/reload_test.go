package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestReloadOnSIGHUP: a newsletter added to the file is served after
// SIGHUP without a restart; a newsletter naming a template set that does
// not exist is refused whole; a changed listen address is named as taking
// a restart.
func TestReloadOnSIGHUP(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	base := serveConfig(addr, "") + `newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
`
	writeConfig(t, dir, base)
	for i := range 2 {
		body := fmt.Sprintf(`{"id": "bai-%d", "title": "Bài %d", "summary": "Tóm tắt."}`, i, i)
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("bai-%d.json", i)), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		mustRun(t, dir, 0, "ingest", fmt.Sprintf("bai-%d.json", i))
	}
	d := startServe(t, dir, addr)
	get := func(path string) (int, string) { return httpGet(t, "http://"+addr+path, "") }
	if _, rss := get("/feeds/rss.xml"); strings.Count(rss, "<item>") != 2 {
		t.Fatalf("the feed holds %d items before the reload, want 2", strings.Count(rss, "<item>"))
	}
	if code, _ := get("/newsletters/toi/"); code != http.StatusNotFound {
		t.Fatalf("an unknown list's archive answered %d", code)
	}
	hup := func(what string) {
		t.Helper()
		before := strings.Count(d.logs.String(), "reload:")
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		waitFor(t, 5*time.Second, what, func() bool { return strings.Count(d.logs.String(), "reload:") > before })
	}

	writeConfig(t, dir, base+`  - {id: toi, title: "Bản tin tối", schedule: "0 18 * * *", template: khong-co}
`)
	hup("the refusal")
	if !strings.Contains(d.logs.String(), "the new config is refused") || !strings.Contains(d.logs.String(), `template set \"khong-co\"`) {
		t.Errorf("a newsletter with a missing template set was not refused:\n%s", d.logs.String())
	}
	if code, _ := get("/newsletters/toi/"); code != http.StatusNotFound {
		t.Errorf("a refused config changed the lists: %d", code)
	}

	writeConfig(t, dir, strings.Replace(base, "listen: "+addr, "listen: 127.0.0.1:1", 1)+`  - {id: toi, title: "Bản tin tối", schedule: "0 18 * * *"}
feeds: {items: 1}
`)
	hup("the reload")
	if code, _ := get("/newsletters/toi/"); code != http.StatusOK {
		t.Errorf("the added list's archive answered %d after SIGHUP", code)
	}
	if _, page := get("/subscribe"); !strings.Contains(page, "Bản tin tối") {
		t.Error("the sign-up page does not offer the added list")
	}
	if _, rss := get("/feeds/rss.xml"); strings.Count(rss, "<item>") != 1 {
		t.Errorf("after feeds.items: 1 and SIGHUP the feed holds %d items", strings.Count(rss, "<item>"))
	}
	if !strings.Contains(d.logs.String(), "take a restart") || !strings.Contains(d.logs.String(), "keys=server") {
		t.Errorf("the changed listen address was not named:\n%s", d.logs.String())
	}
}

// TestWatchConfig: with watch_config: true, saving the file reloads it.
func TestWatchConfig(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	base := serveConfig(addr, "") + `watch_config: true
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
`
	writeConfig(t, dir, base)
	d := startServe(t, dir, addr)
	writeConfig(t, dir, base+`  - {id: toi, title: "Bản tin tối", schedule: "0 18 * * *"}
`)
	waitFor(t, 5*time.Second, "the list added to the saved file to be served", func() bool {
		code, _ := httpGet(t, "http://"+addr+"/newsletters/toi/", "")
		return code == http.StatusOK
	})
	if !strings.Contains(d.logs.String(), "watch_config: the config file changed") {
		t.Errorf("the reload was not logged:\n%s", d.logs.String())
	}
}
