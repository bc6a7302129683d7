package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/config"
)

// bantinIn runs the binary in dir with extra environment variables
// (KEY=VALUE) over a clean environment, and returns its exit status and
// output.
func bantinIn(t *testing.T, dir string, env []string, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary(t), args...)
	cmd.Dir = dir
	cmd.Env = append(cleanEnv(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return code, stdout.String(), stderr.String()
}

// TestConfigCheckReportsElevenProblemsInOneRun: a file with eleven
// mistakes of every kind — unknown keys and wrong types (the strict
// pass), values (validation), and what serve checks beyond the keys (a
// DKIM key that is not there, a template set that does not exist) — gets
// all eleven from one `config check`, each at its line, in the file's
// order, and exit status 2.
func TestConfigCheckReportsElevenProblemsInOneRun(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, `site:
  timezone: Asia/Saigon_City
  language: fr
server:
  listen: "8080"
feeds:
  itmes: 20
  items: 12.7
subscribe:
  double_opt_in: yes
  confirm_ttl: 7d
mail:
  from: not an address
  dkim:
    domain: baomau.vn
    selector: s1
    key_file: keys/khong-co.pem
newsletters:
  - id: sang
    schedule: "0 25 * * *"
  - id: toi
    schedule: "0 18 * * *"
    template: khong-co
`)
	want := []struct {
		line int
		key  string
	}{
		{2, "site.timezone"},
		{3, "site.language"},
		{5, "server.listen"},
		{7, "feeds.itmes"},
		{8, "feeds.items"},
		{10, "subscribe.double_opt_in"},
		{11, "subscribe.confirm_ttl"},
		{13, "mail.from"},
		{17, "mail.dkim.key_file"},
		{20, "newsletters[0].schedule"},
		{23, "newsletters[1].template"},
	}
	code, out, errOut := bantin(t, dir, "", "config", "check")
	if code != 2 {
		t.Fatalf("config check: exit %d, want 2\nstdout: %s\nstderr: %s", code, out, errOut)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != len(want) {
		t.Errorf("config check reported %d problems, want %d:\n%s", len(lines), len(want), errOut)
	}
	for i, w := range want {
		if i >= len(lines) {
			break
		}
		at := fmt.Sprintf("config/bantin.yaml:%d: ", w.line)
		if !strings.Contains(lines[i], at) || !strings.Contains(lines[i], w.key) {
			t.Errorf("problem %d: %q; want %s… naming %s", i+1, lines[i], at, w.key)
		}
	}
	// serve refuses the same file with the same problems.
	code, _, serveErr := bantin(t, dir, "", "serve")
	if code != 2 || serveErr != errOut {
		t.Errorf("serve: exit %d, stderr\n%s\nwant 2 and config check's problems", code, serveErr)
	}
}

// TestConfigCheckNamesDKIMBesideABadTemplatesDir: templates that do not
// load leave out only the checks that render through them.
func TestConfigCheckNamesDKIMBesideABadTemplatesDir(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, "templates_dir: khong-co\nmail:\n  dkim: {domain: baomau.vn, selector: s1, key_file: khong-co.pem}\n")
	code, _, errOut := bantin(t, dir, "", "config", "check")
	if code != 2 || !strings.Contains(errOut, "bantin.yaml:1: templates_dir") || !strings.Contains(errOut, "bantin.yaml:3: mail.dkim.key_file") {
		t.Errorf("config check: exit %d\n%s\nwant 2 naming templates_dir and mail.dkim.key_file", code, errOut)
	}
}

// TestEnvTypoWarnsWithNearestKey: a BANTIN_ variable that sets no key
// is named on stderr, one line, with the variable of the nearest key, by
// every command; BANTIN_CONFIG and BANTIN_TEST_* are not config and are
// never named.
func TestEnvTypoWarnsWithNearestKey(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, "site:\n  title: Báo Mẫu\n")
	env := []string{"BANTIN_FEEDS_ITMES=3", "BANTIN_CONFIG=config/bantin.yaml", "BANTIN_TEST_ALL=1", "BANTIN_FEEDS_ITEMS=7"}
	const warning = "bantin: warning: BANTIN_FEEDS_ITMES names no config key and is ignored; did you mean BANTIN_FEEDS_ITEMS?\n"
	for _, args := range [][]string{{"config", "check"}, {"version"}, {"migrate"}, {"articles", "list"}} {
		code, out, errOut := bantinIn(t, dir, env, args...)
		if code != 0 {
			t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, out, errOut)
		}
		if errOut != warning {
			t.Errorf("%s: stderr %q\nwant %q", strings.Join(args, " "), errOut, warning)
		}
	}
	// The variable that is a key does what it says.
	_, out, _ := bantinIn(t, dir, env, "config", "check", "--print")
	if !strings.Contains(out, "items: 7\n") {
		t.Errorf("config check --print: BANTIN_FEEDS_ITEMS=7 not applied:\n%s", out)
	}
}

// TestArticlesShowJSONRoundTrip: `articles show --json` prints the article
// JSON format (the API's and .json files'), categories by title and dates
// in site.timezone, and the file ingests back unchanged; an edit of it
// comes back as an update of the same article.
func TestArticlesShowJSONRoundTrip(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, "site:\n  title: Báo Mẫu\n  base_url: https://baomau.vn\n  timezone: Asia/Ho_Chi_Minh\n"+
		"categories:\n  - {slug: kinh-te, title: \"Kinh tế\"}\n")
	copyDir(t, "testdata/e2e", filepath.Join(dir, "bai"))
	photo := `{"id": "cms-200", "title": "Cầu mới <ảnh>", "url": "https://baomau.vn/cau-moi.html",
 "published_at": "2024-11-04T08:30:00Z", "author": "Quốc Bảo", "categories": ["Kinh tế", "Dân vận"],
 "summary": "Cầu mới thông xe.", "content_html": "<p>Cầu mới <b>thông xe</b> sáng nay.</p>",
 "image": {"url": "https://baomau.vn/anh/cau.jpg", "caption": "Cầu nhìn từ bờ kênh", "type": "image/jpeg", "length": 48213}}`
	if err := os.WriteFile(filepath.Join(dir, "bai", "anh.json"), []byte(photo), 0o644); err != nil {
		t.Fatal(err)
	}
	bantin(t, dir, "", "ingest", "bai") // tin.jsonl:2 is rejected on purpose

	show := func(id string) (string, map[string]any) {
		t.Helper()
		out, _ := mustRun(t, dir, 0, "articles", "show", id, "--json")
		var m map[string]any
		if err := json.Unmarshal([]byte(out), &m); err != nil {
			t.Fatalf("articles show --json %s: %v\n%s", id, err, out)
		}
		return out, m
	}
	out, got := show("cms-200")
	want := map[string]any{
		"id": "cms-200", "title": "Cầu mới <ảnh>", "url": "https://baomau.vn/cau-moi.html",
		"published_at": "2024-11-04T15:30:00+07:00", "updated_at": "2024-11-04T15:30:00+07:00",
		"author": "Quốc Bảo", "categories": []any{"Kinh tế", "Dân vận"}, "summary": "Cầu mới thông xe.",
		"content_html": "<p>Cầu mới <b>thông xe</b> sáng nay.</p>",
		"image":        map[string]any{"url": "https://baomau.vn/anh/cau.jpg", "caption": "Cầu nhìn từ bờ kênh", "type": "image/jpeg", "length": float64(48213)},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("articles show --json:\n%s\nwant the fields %v", out, want)
	}
	for _, goName := range []string{"ID", "ContentHTML", "InputHash", "GUID", "StoredAt"} {
		if strings.Contains(out, `"`+goName+`"`) {
			t.Errorf("articles show --json prints the Go field %s:\n%s", goName, out)
		}
	}

	// Every article, as printed, goes back unchanged: the JSON one, the
	// .txt page and the .jsonl line.
	list, _ := mustRun(t, dir, 0, "articles", "list")
	ids := regexp.MustCompile(`(?m)^(\S+)`).FindAllString(list, -1)
	if len(ids) != 3 {
		t.Fatalf("articles list: %d articles, want 3:\n%s", len(ids), list)
	}
	for i, id := range ids {
		before, _ := show(id)
		file := filepath.Join(dir, fmt.Sprintf("round-%d.json", i))
		if err := os.WriteFile(file, []byte(before), 0o644); err != nil {
			t.Fatal(err)
		}
		if out, errOut := mustRun(t, dir, 0, "ingest", file); !strings.Contains(out, "1 unchanged") {
			t.Errorf("ingest of articles show --json %s: %s%s; want 1 unchanged", id, out, errOut)
		}
		if after, _ := show(id); after != before {
			t.Errorf("%s changed by its own round trip:\nbefore %s\nafter  %s", id, before, after)
		}
	}

	// An edited title is an update of the same article.
	edited := strings.Replace(out, "Cầu mới <ảnh>", "Cầu mới đã thông xe", 1)
	if err := os.WriteFile(filepath.Join(dir, "sua.json"), []byte(edited), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _ := mustRun(t, dir, 0, "ingest", "sua.json"); !strings.Contains(out, "1 updated") {
		t.Errorf("ingest of an edited article: %s; want 1 updated", out)
	}
	if _, m := show("cms-200"); m["title"] != "Cầu mới đã thông xe" {
		t.Errorf("edited title: %v", m["title"])
	}
}

// TestRelativePathsFollowTheConfigFile: with --config (or BANTIN_CONFIG)
// naming a file in another folder, its relative storage.dsn and
// mail.file_dir are in that folder, whatever folder the command runs in;
// config check --print shows them resolved and says from where.
func TestRelativePathsFollowTheConfigFile(t *testing.T) {
	root := t.TempDir()
	site := filepath.Join(root, "site")
	elsewhere := filepath.Join(root, "elsewhere")
	for _, d := range []string{site, elsewhere} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(site, "bantin.yaml")
	if err := os.WriteFile(conf, []byte("site:\n  title: Báo Mẫu\nstorage:\n  dsn: du-lieu/tin.db\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(elsewhere, "bai.json"), []byte(`{"id": "a1", "title": "Tin một", "summary": "x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := bantinIn(t, elsewhere, nil, "--config", "../site/bantin.yaml", "ingest", "bai.json"); code != 0 {
		t.Fatalf("ingest: exit %d %s %s", code, out, errOut)
	}
	if _, err := os.Stat(filepath.Join(site, "du-lieu", "tin.db")); err != nil {
		t.Errorf("the store is not beside the config file: %v", err)
	}
	if _, err := os.Stat(filepath.Join(elsewhere, "du-lieu")); err == nil {
		t.Errorf("a store was made in the working directory")
	}
	// From a third folder, through BANTIN_CONFIG: the same store.
	code, out, errOut := bantinIn(t, root, []string{"BANTIN_CONFIG=" + conf}, "articles", "list")
	if code != 0 || !strings.Contains(out, "tin-mot") {
		t.Errorf("articles list through BANTIN_CONFIG: exit %d\n%s%s", code, out, errOut)
	}
	_, out, _ = bantinIn(t, elsewhere, nil, "--config", conf, "config", "check")
	if want := "config is valid (" + conf + "; its relative paths are from " + site + ")\n"; out != want {
		t.Errorf("config check: %q, want %q", out, want)
	}
	_, out, _ = bantinIn(t, elsewhere, nil, "--config", conf, "config", "check", "--print")
	for _, want := range []string{
		"dsn: " + filepath.Join(site, "du-lieu", "tin.db"),
		"file_dir: " + filepath.Join(site, "data", "outbox"),
		"# relative paths in the file are resolved from " + site,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("config check --print lacks %q:\n%s", want, out)
		}
	}
}

// TestReadOnlyCommandsMakeNoStore: the commands that only read (and
// backup, which copies), run where there is no store, fail (exit 1)
// naming the store's path and what to run, and leave no store behind.
func TestReadOnlyCommandsMakeNoStore(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, `site:
  title: Báo Mẫu
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
ingest:
  sources:
    - {name: huyen, url: "http://127.0.0.1:9/feed"}
`)
	path := filepath.Join(dir, "data", "bantin.db")
	for _, args := range [][]string{
		{"articles", "list"},
		{"articles", "show", "cms-1"},
		{"articles", "show", "cms-1", "--json"},
		{"subscribers", "list", "sang"},
		{"subscribers", "export", "sang"},
		{"sources", "list"},
		{"digest", "preview", "sang"},
		{"backup", "copy.db"},
	} {
		code, out, errOut := bantin(t, dir, "", args...)
		if code != 1 || !strings.Contains(errOut, "no store at "+path) || !strings.Contains(errOut, "run bantin serve or bantin migrate first") {
			t.Errorf("%s: exit %d\nstdout: %s\nstderr: %s\nwant 1 naming %s", strings.Join(args, " "), code, out, errOut, path)
		}
		for _, made := range []string{"data", "copy.db"} {
			if _, err := os.Stat(filepath.Join(dir, made)); err == nil {
				t.Fatalf("%s made %s", strings.Join(args, " "), filepath.Join(dir, made))
			}
		}
	}
	// Once migrated, they read the empty store.
	mustRun(t, dir, 0, "migrate")
	for _, args := range [][]string{{"articles", "list"}, {"subscribers", "list", "sang"}, {"sources", "list"}} {
		mustRun(t, dir, 0, args...)
	}
}

// TestServeWarnsBaseURLLeftAtDefault: serve on another address than the
// default with site.base_url left at its default warns at start that
// links and GUIDs would point at the wrong place; with base_url set, it
// does not.
func TestServeWarnsBaseURLLeftAtDefault(t *testing.T) {
	for _, tc := range []struct {
		name, config string
		warn         bool
	}{
		{"base_url left at its default", "server:\n  listen: %s\n", true},
		{"base_url set", "site:\n  base_url: http://%[1]s\nserver:\n  listen: %[1]s\n", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			addr := freeAddr(t)
			writeConfig(t, dir, fmt.Sprintf(tc.config, addr))
			d := startServe(t, dir, addr)
			if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
				t.Fatal(err)
			}
			select {
			case <-d.exited:
			case <-time.After(10 * time.Second):
				t.Fatal("serve did not stop within 10 s of SIGTERM")
			}
			logs := d.logs.String()
			warned := strings.Contains(logs, "level=WARN") && strings.Contains(logs, "site.base_url is left at its default http://localhost:8080")
			if warned != tc.warn {
				t.Errorf("warned %v, want %v:\n%s", warned, tc.warn, logs)
			}
			_, _, errOut := bantin(t, dir, "", "config", "check")
			if strings.Contains(errOut, "warning: server.listen is") != tc.warn {
				t.Errorf("config check: stderr %q; want the warning: %v", errOut, tc.warn)
			}
		})
	}
}

// TestStartWarnings covers the address pairs serve warns about without
// listening on a public address in a test.
func TestStartWarnings(t *testing.T) {
	for _, tc := range []struct {
		listen, baseURL string
		want            string
	}{
		{"127.0.0.1:8080", "http://localhost:8080", ""},
		{"127.0.0.1:9090", "http://localhost:8080", "left at its default"},
		{":8080", "http://localhost:8080", "left at its default"},
		{"0.0.0.0:80", "http://127.0.0.1", "on this machine only"},
		{"[::]:8080", "http://localhost:8080/", "on this machine only"},
		{"203.0.113.5:80", "http://news.localhost", "on this machine only"},
		{"0.0.0.0:80", "https://news.example.vn", ""},
		{"127.0.0.1:8080", "https://news.example.vn", ""},
		{"[::1]:8080", "http://[::1]:8080", ""},
	} {
		cfg := config.Default()
		cfg.Server.Listen, cfg.Site.BaseURL = tc.listen, tc.baseURL
		got := strings.Join(startWarnings(cfg), "\n")
		if (tc.want == "") != (got == "") || !strings.Contains(got, tc.want) {
			t.Errorf("listen %s, base_url %s: warnings %q; want %q", tc.listen, tc.baseURL, got, tc.want)
		}
	}
}
