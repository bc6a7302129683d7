package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"
)

// englishMarkers are words and phrases of English that no sentence of a
// Vietnamese page or email has; product names (RSS, Atom, JSON Feed, OPML)
// and the site's own names are not among them.
var englishMarkers = regexp.MustCompile(`(?i)\b(the|your|you|please|choose|subscribe|subscribed|unsubscribe|unsubscribed|newsletters?|confirm|confirmed|issue|issues|archive|not found|not an email|email address|request|refused|error|too many|try again|website|hello|view in|read more|preferences|sections|home page|back to|check your|page)\b`)

// catalogueKey is how the catalogue shows a key it does not have.
var catalogueKey = regexp.MustCompile(`\[[a-z_]+\.[a-z_]+\]`)

var (
	styleBlock = regexp.MustCompile(`(?s)<style.*?</style>`)
	anyTag     = regexp.MustCompile(`(?s)<[^>]*>`)
	readable   = regexp.MustCompile(`(?i)\s(?:alt|title|placeholder|aria-label)="([^"]*)"`)
)

// readerText is what a reader of a page sees or hears: its text and the
// attributes a browser shows or reads out, not its markup, styles or URLs.
func readerText(page string) string {
	var b strings.Builder
	for _, m := range readable.FindAllStringSubmatch(page, -1) {
		b.WriteString(m[1] + "\n")
	}
	page = styleBlock.ReplaceAllString(page, " ")
	page = anyTag.ReplaceAllString(page, " ")
	b.WriteString(html.UnescapeString(page))
	return b.String()
}

// noEnglish fails t when the reader's text of page holds an English
// sentence or a key missing from the catalogue.
func noEnglish(t *testing.T, what, page string) {
	t.Helper()
	text := readerText(page)
	// Links and addresses are not sentences.
	text = regexp.MustCompile(`https?://\S+|\S+@\S+`).ReplaceAllString(text, " ")
	if m := englishMarkers.FindAllString(text, -1); len(m) > 0 {
		t.Errorf("%s: English on a Vietnamese site %q in:\n%s", what, m, strings.Join(strings.Fields(text), " "))
	}
	if m := catalogueKey.FindAllString(page, -1); len(m) > 0 {
		t.Errorf("%s: keys missing from the catalogue: %q", what, m)
	}
}

// pageGet GETs u with headers and returns the status, the headers and the
// body as sent (not decompressed).
func pageGet(t *testing.T, u string, headers map[string]string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	// The transport would ask for gzip and undo it; the test asks itself.
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, b
}

// TestPagesSpeakSiteLanguageVi walks every page and every form answer of a
// site with site.language: vi as a reader gets them from serve — home,
// article, the sign-up form and each of its errors (no list ticked, a bad
// address, no address, an unknown list, a name too long, too many
// sign-ups), the answer, the confirmation email, the confirmation page
// before and after its button, the digest email, preferences, unsubscribe
// before and after, the archive and an issue, the 403, 404 (of an article
// and of a mistyped address), 413 and a bad link — and fails on any
// English sentence. Typed values stay in the form after an error.
func TestPagesSpeakSiteLanguageVi(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	const token = "lang-token"
	config := strings.Replace(serveConfig(addr, token), "site:\n", "site:\n  language: vi\n", 1)
	writeConfig(t, dir, config+`  trusted_proxies: ["127.0.0.1/32"]
newsletters:
  - {id: sang, title: "Bản tin sáng", description: "Tin nổi bật mỗi sáng", schedule: "0 6 * * *"}
  - {id: toi, title: "Bản tin tối", schedule: "0 18 * * *"}
`)
	startServe(t, dir, addr)
	base := "http://" + addr
	now := time.Now().Add(-time.Hour).Format(time.RFC3339)
	articles := fmt.Sprintf(`[{"id":"c1","title":"Thành phố khánh thành cầu mới","categories":["Thời sự"],"published_at":%q,
		"author":"Quốc Bảo","content_html":"<p>(Baomau.vn) - Sáng nay, thành phố khánh thành cây cầu mới.</p>",
		"image":{"caption":"Cây cầu mới nhìn từ bờ sông"}},
		{"id":"c2","title":"Mùa lúa chín","categories":["Kinh tế"],"published_at":%q,"summary":"Nông dân thu hoạch.",
		"content_html":"<p>Nông dân thu hoạch lúa.</p>","image":{"url":"http://anh.baomau.vn/lua.jpg","caption":"Cánh đồng"}}]`, now, now)
	if code, body := httpDo(t, "POST", base+"/api/v1/articles", "application/json", articles, token); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("POST articles: %d %s", code, body)
	}
	client := 0
	post := func(path string, form url.Values) (int, string) {
		t.Helper()
		client++ // each from its own address, so subscribe.rate_limit is met only where the test means it
		return formPost(t, base+path, form, map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", client)})
	}
	get := func(path string) (int, string) {
		t.Helper()
		return httpGet(t, base+path, "")
	}

	code, body := get("/")
	if code != http.StatusOK {
		t.Fatalf("GET /: %d", code)
	}
	noEnglish(t, "home", body)
	code, body = get("/articles/thanh-pho-khanh-thanh-cau-moi")
	if code != http.StatusOK {
		t.Fatalf("GET article: %d", code)
	}
	noEnglish(t, "article", body)
	if code, body = get("/subscribe"); code != http.StatusOK {
		t.Errorf("GET /subscribe: %d", code)
	}
	noEnglish(t, "sign-up form", body)

	// Each form error: 400, a Vietnamese sentence, what was typed kept.
	for _, tc := range []struct {
		name string
		form url.Values
		want string
	}{
		{"no list ticked", url.Values{"email": {"ban-doc@example.vn"}, "name": {"Ngọc Nữ"}}, "Vui lòng chọn ít nhất một bản tin."},
		{"bad address", url.Values{"email": {"not-an-email"}, "list": {"sang"}}, "“not-an-email” không phải là một địa chỉ email hợp lệ."},
		{"no address", url.Values{"email": {""}, "list": {"sang"}}, "Vui lòng nhập địa chỉ email."},
		{"unknown list", url.Values{"email": {"ban-doc@example.vn"}, "list": {"nope"}}, "Không có bản tin “nope”."},
		{"name too long", url.Values{"email": {"ban-doc@example.vn"}, "name": {strings.Repeat("Nữ ", 60)}, "list": {"sang"}}, "Họ tên dài quá 100 ký tự."},
	} {
		code, body := post("/subscribe", tc.form)
		if code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("sign-up with %s: %d; want 400 saying %q in:\n%s", tc.name, code, tc.want, strings.Join(strings.Fields(readerText(body)), " "))
		}
		if e := tc.form.Get("email"); e != "" && !strings.Contains(body, `value="`+e+`"`) {
			t.Errorf("sign-up with %s: the address typed is not kept in the form", tc.name)
		}
		noEnglish(t, "sign-up with "+tc.name, body)
	}

	// A good sign-up, its email, the confirmation page before and after.
	code, body = post("/subscribe", url.Values{"email": {"ban-doc@example.vn"}, "name": {"Ngọc Nữ"}, "list": {"sang"}})
	if code != http.StatusOK {
		t.Fatalf("sign-up: %d %s", code, body)
	}
	noEnglish(t, "sign-up answer", body)
	waitFor(t, 10*time.Second, "the confirmation email", func() bool { return len(mailsTo(t, dir, "ban-doc@example.vn")) > 0 })
	mail := mailsTo(t, dir, "ban-doc@example.vn")[0]
	noEnglish(t, "confirmation email", mailBody(mail))
	confirm := regexp.MustCompile(`/confirm/[A-Za-z0-9_-]+`).FindString(mail)
	code, body = get(confirm)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d", confirm, code)
	}
	noEnglish(t, "confirmation page", body)
	code, body = post(confirm, url.Values{"chosen": {"1"}, "list": {"sang"}})
	if code != http.StatusOK || !strings.Contains(body, "Đã xác nhận đăng ký") {
		t.Fatalf("POST %s: %d %s", confirm, code, body)
	}
	noEnglish(t, "confirmed page", body)
	code, body = get("/confirm/AAAAbad")
	noEnglish(t, fmt.Sprintf("bad confirmation link (%d)", code), body)

	// An issue: its email, the archive, the issue page.
	if code, body := httpDo(t, "POST", base+"/api/v1/newsletters/sang/send", "", "", token); code != http.StatusCreated {
		t.Fatalf("send: %d %s", code, body)
	}
	waitFor(t, 10*time.Second, "the digest email", func() bool { return len(mailsTo(t, dir, "ban-doc@example.vn")) > 1 })
	var digest string
	for _, m := range mailsTo(t, dir, "ban-doc@example.vn") {
		if strings.Contains(m, "/unsubscribe/") {
			digest = m
		}
	}
	noEnglish(t, "digest email", mailBody(digest))
	code, body = get("/newsletters/sang/")
	if code != http.StatusOK {
		t.Fatalf("archive: %d", code)
	}
	noEnglish(t, "archive", body)
	if code, body = get("/newsletters/toi/"); code != http.StatusOK || !strings.Contains(body, "Chưa có số bản tin nào.") {
		t.Errorf("empty archive: %d", code)
	}
	noEnglish(t, "empty archive", body)
	code, body = get("/newsletters/sang/1")
	if code != http.StatusOK {
		t.Fatalf("issue: %d", code)
	}
	noEnglish(t, "issue page", body)

	// Preferences, unsubscribe before and after.
	prefs := regexp.MustCompile(`/preferences/[A-Za-z0-9_-]+`).FindString(digest)
	unsub := regexp.MustCompile(`/unsubscribe/[A-Za-z0-9_-]+`).FindString(digest)
	if prefs == "" || unsub == "" {
		t.Fatalf("no preferences or unsubscribe link in the digest:\n%s", digest)
	}
	code, body = get(prefs)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d", prefs, code)
	}
	noEnglish(t, "preferences", body)
	code, body = post(prefs, url.Values{"list": {"sang"}})
	noEnglish(t, fmt.Sprintf("preferences saved (%d)", code), body)
	code, body = get(unsub)
	if code != http.StatusOK {
		t.Fatalf("GET %s: %d", unsub, code)
	}
	noEnglish(t, "unsubscribe page", body)
	code, body = post(unsub, nil)
	if code != http.StatusOK {
		t.Fatalf("POST %s: %d", unsub, code)
	}
	noEnglish(t, "unsubscribed page", body)

	// The error pages: 403, 404, 413, 429.
	code, body = formPost(t, base+"/subscribe", url.Values{"email": {"x@example.vn"}, "list": {"sang"}},
		map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if code != http.StatusForbidden {
		t.Errorf("cross-site sign-up: %d, want 403", code)
	}
	noEnglish(t, "403", body)
	code, body = get("/articles/khong-co")
	if code != http.StatusNotFound {
		t.Errorf("unknown article: %d, want 404", code)
	}
	noEnglish(t, "404", body)
	code, body = get("/lien-he")
	if code != http.StatusNotFound || !strings.Contains(body, "Không tìm thấy trang") {
		t.Errorf("a path no route has: %d; want the site's 404 page:\n%s", code, body)
	}
	noEnglish(t, "404 of a mistyped address", body)
	if code, _ := httpDo(t, "PUT", base+"/subscribe", "", "", ""); code != http.StatusMethodNotAllowed {
		t.Errorf("PUT /subscribe: %d, want 405", code)
	}
	code, body = post("/subscribe", url.Values{"email": {strings.Repeat("a", 20<<10)}})
	if code != http.StatusRequestEntityTooLarge {
		t.Errorf("an oversized form: %d, want 413", code)
	}
	noEnglish(t, "413", body)
	for i := 0; i < 6; i++ {
		code, body = formPost(t, base+"/subscribe", url.Values{"email": {fmt.Sprintf("n%d@example.vn", i)}, "list": {"toi"}},
			map[string]string{"X-Forwarded-For": "203.0.113.9"})
	}
	if code != http.StatusTooManyRequests {
		t.Errorf("sixth sign-up from one address in an hour: %d, want 429", code)
	}
	noEnglish(t, "429", body)
}

// mailBody is an email as its reader sees it: the text and HTML parts,
// without the headers, where addresses and ids are.
func mailBody(eml string) string {
	eml = strings.ReplaceAll(eml, "\r\n", "\n")
	_, body, _ := strings.Cut(eml, "\n\n")
	var keep []string
	for _, line := range strings.Split(body, "\n") {
		if strings.HasPrefix(line, "--") || strings.HasPrefix(line, "Content-") || strings.HasPrefix(line, "MIME-") {
			continue
		}
		keep = append(keep, line)
	}
	return strings.Join(keep, "\n")
}

// TestHomeFormSubscribesToOneNewsletterListNotTicked: with one list, the
// home page's form has nothing to tick and a name field, and a sign-up as
// the form sends it (or without any list) is taken; the same press with
// several lists and none ticked gets the Vietnamese message on the form,
// with what was typed kept.
func TestHomeFormSubscribesToOneNewsletterListNotTicked(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(addr, "")+`newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
`)
	d := startServe(t, dir, addr)
	base := "http://" + addr
	_, home := httpGet(t, base+"/", "")
	if strings.Contains(home, `type="checkbox" name="list"`) || !strings.Contains(home, `<input type="hidden" name="list" value="sang">`) {
		t.Errorf("with one list the home form has a box to tick or no list:\n%s", home)
	}
	if !strings.Contains(home, `name="name"`) {
		t.Errorf("the home form has no name field")
	}
	code, body := formPost(t, base+"/subscribe", url.Values{"email": {"mot@example.vn"}, "name": {"Ngọc Nữ"}, "list": {"sang"}}, nil)
	if code != http.StatusOK || !strings.Contains(body, "Vui lòng kiểm tra email") {
		t.Errorf("the home form's sign-up: %d %s", code, body)
	}
	code, body = formPost(t, base+"/subscribe", url.Values{"email": {"hai@example.vn"}}, nil)
	if code != http.StatusOK || !strings.Contains(body, "Vui lòng kiểm tra email") {
		t.Errorf("a sign-up without a list on a site of one: %d %s", code, body)
	}
	waitFor(t, 10*time.Second, "the confirmation email", func() bool { return len(mailsTo(t, dir, "hai@example.vn")) == 1 })

	d.kill(t)
	writeConfig(t, dir, serveConfig(addr, "")+`newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
  - {id: toi, title: "Bản tin tối", schedule: "0 18 * * *"}
`)
	startServe(t, dir, addr)
	_, home = httpGet(t, base+"/", "")
	if !strings.Contains(home, `type="checkbox" name="list" value="toi"`) {
		t.Errorf("with two lists the home form offers no choice")
	}
	code, body = formPost(t, base+"/subscribe", url.Values{"email": {"ba@example.vn"}, "name": {"Quốc Bảo"}}, nil)
	if code != http.StatusBadRequest || !strings.Contains(body, "Vui lòng chọn ít nhất một bản tin.") ||
		!strings.Contains(body, `value="ba@example.vn"`) || !strings.Contains(body, `value="Quốc Bảo"`) || !strings.Contains(body, `action="/subscribe"`) {
		t.Errorf("no list ticked of two: %d; want 400 with the Vietnamese message on the form, typed values kept:\n%s", code, body)
	}
}

// TestPagesGzipAndCacheControlLikeFeeds: public pages come gzipped when
// asked, with Cache-Control "public, no-cache" and an ETag that a
// conditional GET turns into 304; pages with a token say no-store. The
// article whose photo is missing shows its caption as text, and the issue
// page lets http images through as the other pages do.
func TestPagesGzipAndCacheControlLikeFeeds(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	const token = "gzip-token"
	writeConfig(t, dir, serveConfig(addr, token)+`newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
`)
	startServe(t, dir, addr)
	base := "http://" + addr
	now := time.Now().Add(-time.Hour).Format(time.RFC3339)
	articles := fmt.Sprintf(`[{"id":"g1","title":"Chú thích không ảnh","published_at":%q,"content_html":"<p>Nội dung.</p>",
		"image":{"caption":"Toàn cảnh buổi lễ"}},
		{"id":"g2","title":"Ảnh qua http","published_at":%q,"content_html":"<p>Nội dung.</p>","image":{"url":"http://anh.baomau.vn/a.jpg"}}]`, now, now)
	if code, body := httpDo(t, "POST", base+"/api/v1/articles", "application/json", articles, token); code != http.StatusOK && code != http.StatusCreated {
		t.Fatalf("POST articles: %d %s", code, body)
	}
	if code, body := httpDo(t, "POST", base+"/api/v1/subscribers", "application/json", `{"list":"sang","email":"doc@example.vn","confirmed":true}`, token); code >= 300 {
		t.Fatalf("add subscriber: %d %s", code, body)
	}
	if code, body := httpDo(t, "POST", base+"/api/v1/newsletters/sang/send", "", "", token); code != http.StatusCreated {
		t.Fatalf("send: %d %s", code, body)
	}

	for _, path := range []string{"/", "/articles/chu-thich-khong-anh", "/newsletters/sang/", "/newsletters/sang/1", "/subscribe"} {
		code, h, body := pageGet(t, base+path, map[string]string{"Accept-Encoding": "gzip"})
		if code != http.StatusOK || h.Get("Content-Encoding") != "gzip" || h.Get("Cache-Control") != "public, no-cache" || h.Get("Etag") == "" {
			t.Errorf("GET %s: %d, Content-Encoding %q, Cache-Control %q, ETag %q; want 200 gzip, public, no-cache and a tag",
				path, code, h.Get("Content-Encoding"), h.Get("Cache-Control"), h.Get("Etag"))
			continue
		}
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("GET %s: %v", path, err)
		}
		plain, err := io.ReadAll(zr)
		if err != nil || !bytes.Contains(plain, []byte("</html>")) {
			t.Errorf("GET %s: the gzip body is no page (%v)", path, err)
		}
		if code, _, body := pageGet(t, base+path, map[string]string{"Accept-Encoding": "gzip", "If-None-Match": h.Get("Etag")}); code != http.StatusNotModified || len(body) != 0 {
			t.Errorf("GET %s with its ETag: %d, %d bytes; want 304 and nothing", path, code, len(body))
		}
		if code, h2, _ := pageGet(t, base+path, nil); code != http.StatusOK || h2.Get("Content-Encoding") != "" || h2.Get("Etag") == h.Get("Etag") {
			t.Errorf("GET %s without gzip: %d, %q, same tag %v", path, code, h2.Get("Content-Encoding"), h2.Get("Etag") == h.Get("Etag"))
		}
	}

	_, _, article := pageGet(t, base+"/articles/chu-thich-khong-anh", nil)
	if !strings.Contains(string(article), `<p class="caption">Toàn cảnh buổi lễ</p>`) || strings.Contains(string(article), "<figure>") {
		t.Errorf("a caption without a photo is not a line of text (or an empty figure is left):\n%s", article)
	}
	_, issueHeader, _ := pageGet(t, base+"/newsletters/sang/1", nil)
	if csp := issueHeader.Get("Content-Security-Policy"); !regexp.MustCompile(`img-src [^;]*\bhttp:`).MatchString(csp) || strings.Contains(csp, "script-src") {
		t.Errorf("issue page CSP %q; want http images allowed and no scripts", csp)
	}

	waitFor(t, 10*time.Second, "the digest", func() bool { return len(mailsTo(t, dir, "doc@example.vn")) > 0 })
	mail := mailsTo(t, dir, "doc@example.vn")[0]
	for _, path := range []string{regexp.MustCompile(`/unsubscribe/[A-Za-z0-9_-]+`).FindString(mail), regexp.MustCompile(`/preferences/[A-Za-z0-9_-]+`).FindString(mail)} {
		code, h, _ := pageGet(t, base+path, map[string]string{"Accept-Encoding": "gzip"})
		if code != http.StatusOK || h.Get("Cache-Control") != "no-store" || h.Get("Etag") != "" || h.Get("Content-Encoding") != "gzip" {
			t.Errorf("GET %s: %d, Cache-Control %q, ETag %q, Content-Encoding %q; want no-store, no tag, gzip", path, code, h.Get("Cache-Control"), h.Get("Etag"), h.Get("Content-Encoding"))
		}
	}

	// After unsubscribing: the page says so and offers to subscribe again,
	// which is the sign-up (a confirmation email asks the address again).
	unsub := regexp.MustCompile(`/unsubscribe/[A-Za-z0-9_-]+`).FindString(mail)
	code, body := formPost(t, base+unsub, nil, nil)
	if code != http.StatusOK || !strings.Contains(body, "Đã hủy đăng ký") || !strings.Contains(body, "Đăng ký lại") {
		t.Fatalf("after unsubscribing: %d; want it said and an offer to subscribe again:\n%s", code, body)
	}
	again := regexp.MustCompile(`(?s)<form class="box" method="post" action="/subscribe">(.*?)</form>`).FindStringSubmatch(body)
	if again == nil {
		t.Fatalf("no sign-up form on the unsubscribed page:\n%s", body)
	}
	form := url.Values{}
	for _, m := range regexp.MustCompile(`name="([a-z]+)" value="([^"]*)"`).FindAllStringSubmatch(again[1], -1) {
		form.Add(m[1], html.UnescapeString(m[2]))
	}
	if code, body := formPost(t, base+"/subscribe", form, nil); code != http.StatusOK || !strings.Contains(body, "Vui lòng kiểm tra email") {
		t.Errorf("subscribe again (%v): %d %s", form, code, body)
	}
	waitFor(t, 10*time.Second, "the confirmation email of the new sign-up", func() bool {
		for _, m := range mailsTo(t, dir, "doc@example.vn") {
			if strings.Contains(m, "/confirm/") {
				return true
			}
		}
		return false
	})

}
