package main

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	netmail "net/mail"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestHostileInput throws what an attacker or a broken client would at the
// running server, and checks that nothing gets through: script in every
// field that is shown, line breaks where headers are made, huge bodies,
// broken JSON, CSV and YAML, path traversal, forged and cross-purpose
// tokens, a sign-up flood, and admin routes without the right token.
func TestHostileInput(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(addr, "hostile-token")+`newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
`)
	startServe(t, dir, addr)
	base := "http://" + addr
	const token = "hostile-token"

	// Script in every field of an article, through the API.
	evil := `{"id": "xss-1", "title": "<script>alert(1)</script>Tiêu đề", "author": "<img src=x onerror=alert(2)>Tác giả",
"summary": "<script>alert(3)</script>Tóm tắt", "content_html": "<p onclick=\"alert(4)\">Nội dung <a href=\"javascript:alert(5)\">x</a></p><script>alert(6)</script><iframe src=\"https://evil.example\"></iframe>",
"categories": ["<script>alert(7)</script>Thời sự"], "image": {"url": "https://baomau.vn/anh.jpg\" onerror=\"alert(8)", "caption": "<script>alert(9)</script>Ảnh"}}`
	if code, body := httpDo(t, "POST", base+"/api/v1/articles", "application/json",
		`{"id": "js-img", "title": "x", "summary": "y", "image": {"url": "javascript:alert(0)"}}`, token); code != http.StatusBadRequest || !strings.Contains(body, "image.url") {
		t.Errorf("a javascript: image: %d %s; want 400 naming image.url", code, body)
	}
	if code, body := httpDo(t, "POST", base+"/api/v1/articles", "application/json", evil, token); code != http.StatusCreated {
		t.Fatalf("the article with scripts: %d %s", code, body)
	}
	mustRun(t, dir, 0, "subscribers", "add", "sang", "an@example.vn", "--name", "<script>alert(10)</script>An", "--confirmed")
	_, home := httpGet(t, base+"/", "")
	var articlePath string
	if i := strings.Index(home, `href="/articles/`); i >= 0 {
		articlePath = home[i+len(`href="`):]
		articlePath = articlePath[:strings.IndexByte(articlePath, '"')]
	}
	if articlePath == "" {
		t.Fatalf("the home page links no article:\n%.500s", home)
	}
	_, page := httpGet(t, base+articlePath, "")
	preview, _ := mustRun(t, dir, 0, "digest", "preview", "sang", "--format", "html")
	shown := map[string]string{"home": home, "article page": page, "digest": preview}
	for _, f := range []string{"/feeds/rss.xml", "/feeds/atom.xml", "/feeds/feed.json"} {
		_, shown[f] = httpGet(t, base+f, "")
	}
	// What would run in a browser or a reader: a script element, an
	// event-handler attribute in a tag, a javascript: link. Feeds carry
	// their HTML escaped, so it is read once unescaped; in JSON Feed every
	// string counts.
	scriptTag := regexp.MustCompile(`(?i)<script`)
	handler := regexp.MustCompile(`(?i)<[a-z][^<>]*\son[a-z]+\s*=`)
	jsLink := regexp.MustCompile(`(?i)(href|src)\s*=\s*["']?\s*javascript:`)
	// The title is plain text, kept as written: pages show it escaped, and
	// feeds carry it as text (read once unescaped, it is the title itself,
	// which is taken out of what is searched for markup).
	const evilTitle = "<script>alert(1)</script>Tiêu đề"
	for where, text := range shown {
		switch {
		case strings.HasSuffix(where, ".xml"):
			text = strings.ReplaceAll(html.UnescapeString(text), evilTitle, "")
		case strings.HasSuffix(where, ".json"):
			var doc any
			if err := json.Unmarshal([]byte(text), &doc); err != nil {
				t.Fatalf("%s: %v", where, err)
			}
			text = strings.ReplaceAll(strings.Join(jsonStrings(doc), "\n"), evilTitle, "")
		default:
			if !strings.Contains(text, html.EscapeString(evilTitle)) {
				t.Errorf("%s does not show the title as text (%q)", where, html.EscapeString(evilTitle))
			}
		}
		for _, re := range []*regexp.Regexp{scriptTag, handler, jsLink} {
			if m := re.FindString(text); m != "" {
				t.Errorf("%s carries %q", where, m)
			}
		}
	}

	// Line breaks where a header is made.
	if code, _ := httpDo(t, "POST", base+"/subscribe", "application/x-www-form-urlencoded",
		url.Values{"email": {"b@example.vn\r\nBcc: victim@example.vn"}, "list": {"sang"}}.Encode(), ""); code != http.StatusBadRequest {
		t.Errorf("an address with CRLF through the form: %d, want 400", code)
	}
	// A name with a line break is refused, or kept on one line: it never
	// reaches a header with one.
	httpDo(t, "POST", base+"/subscribe", "application/x-www-form-urlencoded",
		url.Values{"email": {"c@example.vn"}, "name": {"C\r\nBcc: victim@example.vn"}, "list": {"sang"}}.Encode(), "")
	httpDo(t, "POST", base+"/api/v1/subscribers", "application/json",
		`{"list": "sang", "email": "d@example.vn", "name": "D\r\nBcc: victim@example.vn", "confirmed": true}`, token)
	for _, status := range []string{"pending", "confirmed"} {
		_, list := httpGet(t, base+"/api/v1/subscribers?list=sang&status="+status, token)
		if strings.Contains(list, `\r`) || strings.Contains(list, `\n`) {
			t.Errorf("a stored name holds a line break: %s", list)
		}
	}
	mustRun(t, dir, 2, "digest", "send", "sang", "--to", "e@example.vn\r\nBcc: victim@example.vn")

	// Huge bodies.
	huge := `{"id": "big", "title": "x", "content_html": "` + strings.Repeat("x", 11<<20) + `"}`
	if code, _ := httpDo(t, "POST", base+"/api/v1/articles", "application/json", huge, token); code != http.StatusRequestEntityTooLarge {
		t.Errorf("an 11 MiB article: %d, want 413", code)
	}
	if code, _ := httpDo(t, "POST", base+"/subscribe", "application/x-www-form-urlencoded", "email="+strings.Repeat("a", 1<<20), ""); code != http.StatusRequestEntityTooLarge {
		t.Errorf("a 1 MiB form: %d, want 413", code)
	}

	// Broken JSON, CSV and YAML.
	if code, body := httpDo(t, "POST", base+"/api/v1/articles", "application/json", `{"id": "x", "title": `, token); code != http.StatusBadRequest || !strings.Contains(body, `"error"`) {
		t.Errorf("broken JSON: %d %s", code, body)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.csv"), []byte("\"unterminated,quote\nok@example.vn,Ok\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, _, errOut := bantin(t, dir, "", "subscribers", "import", "sang", "bad.csv")
	if code == 0 || !strings.Contains(errOut, "bad.csv") {
		t.Errorf("a broken CSV: exit %d, %s", code, errOut)
	}
	if err := os.WriteFile(filepath.Join(dir, "bad.yaml"), []byte("site:\n  title: [unclosed\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := bantin(t, dir, "", "--config", "bad.yaml", "config", "check"); code != 2 || !strings.Contains(errOut, "bad.yaml") {
		t.Errorf("broken YAML: exit %d, %s", code, errOut)
	}

	// Path traversal.
	for _, path := range []string{"/articles/..%2f..%2fetc%2fpasswd", "/articles/../../etc/passwd", "/newsletters/sang/..%2f..%2fetc%2fpasswd",
		"/newsletters/..%2fsang/1", "/feeds/..%2f..%2fetc%2fpasswd/rss.xml"} {
		if code, body := httpGet(t, base+path, ""); code == http.StatusOK || strings.Contains(body, "root:") {
			t.Errorf("%s answered %d", path, code)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "traversal.yaml"),
		[]byte("newsletters:\n  - {id: sang, title: S, schedule: \"0 6 * * *\", template: \"../../etc/passwd\"}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := bantin(t, dir, "", "--config", "traversal.yaml", "config", "check"); code != 2 || !strings.Contains(errOut, "template") {
		t.Errorf("a template name with ../: exit %d, %s", code, errOut)
	}

	// Forged and cross-purpose tokens change nothing.
	for _, path := range []string{"/confirm/AAAA", "/unsubscribe/forged-token", "/preferences/" + strings.Repeat("A", 40)} {
		if code, _ := httpGet(t, base+path, ""); code != http.StatusNotFound {
			t.Errorf("%s answered %d, want 404", path, code)
		}
	}
	if code, _ := httpDo(t, "POST", base+"/unsubscribe/forged", "application/x-www-form-urlencoded", "List-Unsubscribe=One-Click", ""); code != http.StatusNotFound {
		t.Errorf("a one-click POST with a forged token: %d, want 404", code)
	}
	// A real confirmation token used for another purpose does nothing.
	if code, _ := httpDo(t, "POST", base+"/subscribe", "application/x-www-form-urlencoded",
		url.Values{"email": {"cp@example.vn"}, "list": {"sang"}}.Encode(), ""); code != http.StatusOK {
		t.Fatalf("sign-up for the token test: %d", code)
	}
	var confirm string
	waitFor(t, 5*time.Second, "the confirmation email", func() bool {
		for _, e := range emlFiles(t, filepath.Join(dir, "data", "outbox")) {
			e = strings.ReplaceAll(e, "=\r\n", "")
			if strings.Contains(e, "cp@example.vn") {
				confirm = regexp.MustCompile(`/confirm/[A-Za-z0-9_-]+`).FindString(e)
			}
		}
		return confirm != ""
	})
	tok := strings.TrimPrefix(confirm, "/confirm/")

	// A name with a script, through the form: the confirmation email shows
	// it as text.
	if code, _ := httpDo(t, "POST", base+"/subscribe", "application/x-www-form-urlencoded",
		url.Values{"email": {"xss@example.vn"}, "name": {`<script>alert(11)</script><img src=x onerror=alert(12)>Nữ`}, "list": {"sang"}}.Encode(), ""); code != http.StatusOK {
		t.Fatalf("sign-up with a script in the name: %d", code)
	}
	var mailHTML string
	waitFor(t, 5*time.Second, "the confirmation email to xss@", func() bool {
		for _, e := range emlFiles(t, filepath.Join(dir, "data", "outbox")) {
			if !strings.Contains(e, "xss@example.vn") {
				continue
			}
			msg, err := netmail.ReadMessage(strings.NewReader(e))
			if err != nil {
				t.Fatal(err)
			}
			_, params, _ := mime.ParseMediaType(msg.Header.Get("Content-Type"))
			mr := multipart.NewReader(msg.Body, params["boundary"])
			for {
				part, err := mr.NextPart()
				if err != nil {
					break
				}
				if strings.HasPrefix(part.Header.Get("Content-Type"), "text/html") {
					b, _ := io.ReadAll(part)
					mailHTML = string(b)
				}
			}
		}
		return mailHTML != ""
	})
	// The name typed waits for the confirmation: none of it is in the
	// email, so no script or stranger's text reaches an inbox through it.
	if strings.Contains(mailHTML, "Nữ") || strings.Contains(mailHTML, "alert(") {
		t.Errorf("the confirmation email carries the typed name")
	}
	for _, re := range []*regexp.Regexp{scriptTag, handler, jsLink} {
		if m := re.FindString(mailHTML); m != "" {
			t.Errorf("the confirmation email carries %q", m)
		}
	}
	if code, _ := httpGet(t, base+"/unsubscribe/"+tok, ""); code != http.StatusNotFound {
		t.Errorf("a confirmation token as an unsubscribe link: %d, want 404", code)
	}
	if code, _ := httpDo(t, "POST", base+"/preferences/"+tok, "application/x-www-form-urlencoded", "list=sang", ""); code != http.StatusNotFound {
		t.Errorf("a confirmation token as a preferences link: %d, want 404", code)
	}
	if code, _ := httpGet(t, base+confirm, ""); code != http.StatusOK {
		t.Errorf("the confirmation link itself: %d, want 200", code)
	}

	// A sign-up flood from one address: 5 an hour, then 429.
	var last int
	for i := range 7 {
		last, _ = httpDo(t, "POST", base+"/subscribe", "application/x-www-form-urlencoded",
			url.Values{"email": {fmt.Sprintf("flood-%d@example.vn", i)}, "list": {"sang"}}.Encode(), "")
	}
	if last != http.StatusTooManyRequests {
		t.Errorf("the 7th sign-up from one address: %d, want 429", last)
	}

	// Admin routes: no token, a wrong one, the right one.
	for _, route := range []string{"/api/v1/articles", "/api/v1/subscribers?list=sang", "/api/v1/sources", "/api/v1/newsletters/sang/issues"} {
		if code, _ := httpGet(t, base+route, ""); code != http.StatusUnauthorized {
			t.Errorf("%s without a token: %d, want 401", route, code)
		}
		if code, _ := httpGet(t, base+route, "wrong-token"); code != http.StatusForbidden {
			t.Errorf("%s with a wrong token: %d, want 403", route, code)
		}
		if code, _ := httpGet(t, base+route, token); code != http.StatusOK {
			t.Errorf("%s with the token: %d, want 200", route, code)
		}
	}
}

// jsonStrings lists every string in a decoded JSON document.
func jsonStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, jsonStrings(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for _, e := range v {
			out = append(out, jsonStrings(e)...)
		}
		return out
	}
	return nil
}
