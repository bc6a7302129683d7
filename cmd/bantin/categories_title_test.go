package main

import (
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestCategoryTitlesFromConfigAndArticles: with categories: [{slug:
// kinh-te, title: "Kinh tế"}], an article naming the category by its slug
// shows "Kinh tế" on the home page, the article page, the preferences
// page, in RSS, Atom (term kinh-te), JSON Feed, OPML and the API, also
// when the article was stored before the config named the category; a
// title given with an article ("Dân vận", --category "Thời sự") is shown
// as given; a category stored under its slug alone gets the title a later
// article gives it ("Du lịch"), and the config's title beats an article's.
func TestCategoryTitlesFromConfigAndArticles(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	const token = "cat-token"
	head := serveConfig(addr, token) + "newsletters:\n  - {id: sang, title: \"Bản tin sáng\", schedule: \"0 6 * * *\"}\n"
	writeConfig(t, dir, head)
	write := func(name, body string) string {
		t.Helper()
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return path
	}
	// Stored before the config names kinh-te: its title is the slug.
	write("a.json", `[{"id": "gia-vang", "title": "Giá vàng tăng", "summary": "Giá vàng tăng mạnh.", "categories": ["kinh-te", "Dân vận", "du-lich"]}]`)
	mustRun(t, dir, 0, "ingest", "a.json")
	today := time.Now().In(hcmZone(t)).Format("2/1/2006")
	write("trang.txt", today+"\n\nHọp báo thường kỳ\n\n(Baomau.vn) - Chiều nay, bộ tổ chức họp báo thường kỳ về tình hình kinh tế.\n\nĐoạn hai của bài.\n")
	mustRun(t, dir, 0, "ingest", "--category", "Thời sự", "trang.txt")

	writeConfig(t, dir, head+"categories:\n  - {slug: kinh-te, title: \"Kinh tế\"}\n")
	d := startServe(t, dir, addr)
	base := "http://" + addr

	// A later article gives du-lich a title and kinh-te another one.
	if code, body := httpDo(t, "POST", base+"/api/v1/articles", "application/json",
		`{"id": "da-lat", "title": "Đi Đà Lạt", "summary": "Mùa hoa.", "categories": ["Du lịch", "Kinh te"]}`, token); code != http.StatusCreated {
		t.Fatalf("POST an article: %d %s", code, body)
	}
	get := func(path string) string {
		t.Helper()
		code, body := httpGet(t, base+path, "")
		if code != http.StatusOK {
			t.Fatalf("GET %s: %d\n%s", path, code, body)
		}
		return body
	}
	waitFor(t, 5*time.Second, "the API's article in the feed", func() bool {
		return strings.Contains(get("/feeds/rss.xml"), "Đi Đà Lạt")
	})

	titles := []string{"Kinh tế", "Dân vận", "Du lịch", "Thời sự"}
	home := get("/")
	for _, title := range titles {
		if !strings.Contains(home, "<span>"+title+"</span>") {
			t.Errorf("the home page shows no category %q", title)
		}
	}
	for _, feedTitle := range []string{"Báo Mẫu — Kinh tế (RSS)", "Báo Mẫu — Du lịch (RSS)", "Báo Mẫu — Thời sự (RSS)"} {
		if !strings.Contains(home, `title="`+feedTitle+`"`) {
			t.Errorf("the home page links no feed %q", feedTitle)
		}
	}
	slugShown := regexp.MustCompile(`<span>(kinh-te|du-lich|dan-van|thoi-su|Kinh te)</span>|— (kinh-te|du-lich|thoi-su) \(`)
	if m := slugShown.FindString(home); m != "" {
		t.Errorf("the home page shows %q", m)
	}
	page := get("/articles/gia-vang-tang")
	if !strings.Contains(page, "<span>Kinh tế</span><span>Dân vận</span><span>Du lịch</span>") {
		t.Errorf("the article page's categories:\n%s", regexp.MustCompile(`<p class="categories">.*?</p>`).FindString(page))
	}

	rss := get("/feeds/rss.xml")
	for _, title := range titles {
		if !strings.Contains(rss, `/rss.xml">`+title+`</category>`) {
			t.Errorf("RSS has no <category> %q", title)
		}
	}
	atom := get("/feeds/atom.xml")
	if !strings.Contains(atom, `<category term="kinh-te" scheme="`+base+`/feeds/" label="Kinh tế">`) ||
		!strings.Contains(atom, `term="du-lich" scheme="`+base+`/feeds/" label="Du lịch"`) {
		t.Errorf("Atom's categories: %q", regexp.MustCompile(`<category [^>]*>`).FindAllString(atom, -1))
	}
	var jf struct {
		Items []struct {
			ID   string   `json:"id"`
			Tags []string `json:"tags"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(get("/feeds/feed.json")), &jf); err != nil {
		t.Fatal(err)
	}
	tags := map[string]bool{}
	for _, it := range jf.Items {
		for _, tag := range it.Tags {
			tags[tag] = true
		}
	}
	for _, title := range titles {
		if !tags[title] {
			t.Errorf("JSON Feed has no tag %q: %v", title, tags)
		}
	}
	opml := get("/feeds.opml")
	for _, title := range titles {
		if !strings.Contains(opml, `text="Báo Mẫu — `+title+`"`) {
			t.Errorf("OPML has no outline %q", title)
		}
	}
	if !strings.Contains(get("/feeds/du-lich/rss.xml"), "<title>Báo Mẫu — Du lịch</title>") {
		t.Error("the du-lich feed's title is not Báo Mẫu — Du lịch")
	}

	code, api := httpGet(t, base+"/api/v1/articles", token)
	if code != http.StatusOK {
		t.Fatalf("GET /api/v1/articles: %d", code)
	}
	var list struct {
		Articles []struct {
			ID         string `json:"id"`
			Categories []struct {
				Slug  string `json:"slug"`
				Title string `json:"title"`
			} `json:"categories"`
		} `json:"articles"`
	}
	if err := json.Unmarshal([]byte(api), &list); err != nil {
		t.Fatal(err)
	}
	apiTitles := map[string]string{}
	for _, a := range list.Articles {
		for _, c := range a.Categories {
			apiTitles[c.Slug] = c.Title
		}
	}
	want := map[string]string{"kinh-te": "Kinh tế", "dan-van": "Dân vận", "du-lich": "Du lịch", "thoi-su": "Thời sự"}
	for slug, title := range want {
		if apiTitles[slug] != title {
			t.Errorf("the API's title of %s: %q, want %q", slug, apiTitles[slug], title)
		}
	}

	for _, q := range []string{"kinh-te", "Kinh%20t%E1%BA%BF"} {
		if code, body := httpGet(t, base+"/api/v1/articles?category="+q, token); code != http.StatusOK || strings.Count(body, `"id":`) != 2 {
			t.Errorf("GET /api/v1/articles?category=%s: %d, want the 2 articles of kinh-te:\n%s", q, code, body)
		}
	}

	// The preferences page, through the link of a digest.
	mustRun(t, dir, 0, "subscribers", "add", "sang", "doc-gia@example.vn", "--confirmed")
	mustRun(t, dir, 0, "digest", "send", "sang")
	var prefs string
	for _, e := range emlFiles(t, filepath.Join(dir, "data", "outbox")) {
		if p := regexp.MustCompile(`/preferences/[A-Za-z0-9_-]+`).FindString(strings.ReplaceAll(e, "=\r\n", "")); p != "" {
			prefs = p
		}
	}
	if prefs == "" {
		t.Fatal("no preferences link in the digest")
	}
	prefPage := get(prefs)
	for _, title := range titles {
		if !strings.Contains(prefPage, "<span>"+title+"</span>") {
			t.Errorf("the preferences page shows no category %q", title)
		}
	}
	if m := slugShown.FindString(prefPage); m != "" {
		t.Errorf("the preferences page shows %q", m)
	}

	// A new title in the config, reloaded: the pages and feeds take it.
	writeConfig(t, dir, head+"categories:\n  - {slug: kinh-te, title: \"Kinh tế – Tài chính\"}\n")
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the reloaded title on the home page and in RSS", func() bool {
		return strings.Contains(get("/"), "<span>Kinh tế – Tài chính</span>") &&
			strings.Contains(get("/feeds/rss.xml"), ">Kinh tế – Tài chính</category>")
	})
}

// TestIngestCategoryAddsAndReingestKeepsCategories: bantin ingest
// --category "Thời sự" stores slug thoi-su titled "Thời sự" beside the
// file's own; the same file again without --category is unchanged and
// keeps it; another --category adds; the API's POST replaces them.
func TestIngestCategoryAddsAndReingestKeepsCategories(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	const token = "cat-token"
	writeConfig(t, dir, serveConfig(addr, token))
	article := `{"id": "hop-bao", "title": "Họp báo thường kỳ", "summary": "Chiều nay, bộ tổ chức họp báo.", "categories": ["Dân vận"]}`
	if err := os.WriteFile(filepath.Join(dir, "a.json"), []byte(article), 0o644); err != nil {
		t.Fatal(err)
	}
	ingest := func(want string, args ...string) {
		t.Helper()
		out, _ := mustRun(t, dir, 0, append([]string{"ingest"}, append(args, "a.json")...)...)
		if !strings.HasPrefix(out, want) {
			t.Errorf("bantin ingest %s: %q, want %q…", strings.Join(args, " "), out, want)
		}
	}
	categories := func() string {
		t.Helper()
		out, _ := mustRun(t, dir, 0, "articles", "show", "hop-bao")
		return regexp.MustCompile(`(?m)^categories: .*$`).FindString(out)
	}
	ingest("1 created, 0 updated, 0 unchanged", "--category", "Thời sự")
	if got, want := categories(), "categories: Dân vận (dan-van), Thời sự (thoi-su)"; got != want {
		t.Errorf("after --category \"Thời sự\": %q, want %q", got, want)
	}
	ingest("0 created, 0 updated, 1 unchanged")
	if got, want := categories(), "categories: Dân vận (dan-van), Thời sự (thoi-su)"; got != want {
		t.Errorf("after the same file without --category: %q, want %q", got, want)
	}
	ingest("0 created, 1 updated, 0 unchanged", "--category", "Kinh tế")
	ingest("0 created, 0 updated, 1 unchanged", "--category", "thoi-su")
	if got, want := categories(), "categories: Dân vận (dan-van), Thời sự (thoi-su), Kinh tế (kinh-te)"; got != want {
		t.Errorf("after a second --category: %q, want %q", got, want)
	}

	// The API's POST is the whole article: its categories replace.
	startServe(t, dir, addr)
	base := "http://" + addr
	if code, body := httpDo(t, "POST", base+"/api/v1/articles", "application/json", article, token); code != http.StatusOK || !strings.Contains(body, `"updated": 1`) {
		t.Fatalf("POST the article again: %d %s", code, body)
	}
	if code, body := httpDo(t, "POST", base+"/api/v1/articles", "application/json", article, token); code != http.StatusOK || !strings.Contains(body, `"unchanged": 1`) {
		t.Errorf("POST the same article a second time: %d %s, want unchanged", code, body)
	}
	if got, want := categories(), "categories: Dân vận (dan-van)"; got != want {
		t.Errorf("after the API's POST: %q, want %q", got, want)
	}
}

func hcmZone(t *testing.T) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestCategoryNamedByConfigTitleIsTheConfigCategory: with categories:
// [{slug: kt, title: "Kinh tế"}], an article's "kinh tế" and --category
// "Kinh tế" are the category kt titled "Kinh tế", not a second kinh-te.
func TestCategoryNamedByConfigTitleIsTheConfigCategory(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, "site:\n  title: Báo Mẫu\ncategories:\n  - {slug: kt, title: \"Kinh tế\"}\n")
	if err := os.WriteFile(filepath.Join(dir, "a.jsonl"), []byte(
		`{"id": "a", "title": "Giá lúa", "summary": "Giá lúa tăng.", "categories": ["kinh tế"]}`+"\n"+
			`{"id": "b", "title": "Giá cà phê", "summary": "Giá cà phê giảm.", "categories": ["Dân vận"]}`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustRun(t, dir, 0, "ingest", "--category", "Kinh tế", "a.jsonl")
	for id, want := range map[string]string{"a": "categories: Kinh tế (kt)", "b": "categories: Dân vận (dan-van), Kinh tế (kt)"} {
		out, _ := mustRun(t, dir, 0, "articles", "show", id)
		if got := regexp.MustCompile(`(?m)^categories: .*$`).FindString(out); got != want {
			t.Errorf("article %s: %q, want %q", id, got, want)
		}
	}
	for _, name := range []string{"Kinh tế", "kt"} {
		if out, _ := mustRun(t, dir, 0, "articles", "list", "--category", name); strings.Count(out, "\n") != 2 {
			t.Errorf("articles list --category %q:\n%s\nwant both articles", name, out)
		}
	}
}
