package web_test

import (
	"compress/gzip"
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bantin/bantin/internal/digest"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
	"github.com/bantin/bantin/internal/subscriber"
	"github.com/bantin/bantin/internal/web"
	"github.com/bantin/bantin/templates"
)

// listsOnly gives the server its newsletters and nothing else of the
// subscription service: the archive asks for no more.
type listsOnly struct {
	web.Subscriptions // nil: only Lists is called
	lists             []subscriber.List
}

func (l listsOnly) Lists() []subscriber.List { return l.lists }

// fakeNewsletters answers SendNow with what the test set.
type fakeNewsletters struct {
	made  digest.Made
	err   error
	asked []string
}

func (f *fakeNewsletters) SendNow(ctx context.Context, list string) (digest.Made, error) {
	f.asked = append(f.asked, list)
	return f.made, f.err
}

type newsletterFixture struct {
	fixture
	sends *fakeNewsletters
}

var testLists = []subscriber.List{{ID: "sang", Title: "Bản tin sáng", Description: "Mỗi sáng 6 giờ"}, {ID: "toi", Title: "Bản tin tối"}}

// newNewsletterFixture is a server with the archive on a real store; nil
// options turn parts off.
func newNewsletterFixture(t *testing.T, lang string, opts func(*web.Options)) *newsletterFixture {
	t.Helper()
	st := sqlitetest.Open(t)
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	f := &newsletterFixture{fixture: fixture{store: st, now: time.Date(2024, 12, 22, 7, 0, 0, 0, hcm)}, sends: &fakeNewsletters{}}
	o := web.Options{
		Site:          web.Site{Title: "Báo Mẫu", BaseURL: "https://baomau.vn", Language: lang, Location: hcm},
		Store:         st,
		Templates:     tmpl,
		AdminToken:    token,
		Logger:        discardLogger(),
		Now:           func() time.Time { return f.now },
		Subscriptions: listsOnly{lists: testLists},
		Archive:       st,
		Newsletters:   f.sends,
	}
	if opts != nil {
		opts(&o)
	}
	f.srv = httptest.NewServer(web.New(o))
	t.Cleanup(f.srv.Close)
	return f
}

// issueHTML is an issue's HTML as the digest writes it: an email, with
// inline styles and a remote image.
func issueHTML(subject string) string {
	subject = html.EscapeString(subject)
	return `<!doctype html>
<html lang="vi">
<head><meta charset="utf-8"><title>` + subject + `</title></head>
<body style="margin:0;background:#f5f5f5;">
<table role="presentation"><tr><td style="padding:16px;"><img src="https://baomau.vn/anh/cau.jpg" alt="Cầu"><h2>` + subject + `</h2></td></tr></table>
</body>
</html>
`
}

// makeIssue stores an issue of list as the digest would, then finishes or
// cancels it.
func makeIssue(t *testing.T, st *sqlite.Store, list, subject, status string, end time.Time) store.Issue {
	t.Helper()
	ctx := context.Background()
	is, _, err := st.CreateIssue(ctx, store.Issue{List: list, WindowStart: end.Add(-24 * time.Hour), WindowEnd: end,
		Subject: subject, HTML: issueHTML(subject), Text: subject, CreatedAt: end.Add(time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	switch status {
	case "sent":
		if ok, err := st.FinishIssue(ctx, is.ID, end.Add(time.Hour)); err != nil || !ok {
			t.Fatalf("finish issue %d: %v %v", is.Number, ok, err)
		}
	case "cancelled":
		if _, _, err := st.CancelIssue(ctx, list, end.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
	}
	is.Status = status
	return is
}

func day(d int) time.Time { return time.Date(2024, 12, d, 6, 0, 0, 0, hcm) }

func TestNewsletterArchivePages(t *testing.T) {
	f := newNewsletterFixture(t, "vi", nil)
	makeIssue(t, f.store, "sang", "Số một: cầu mới", "sent", day(20))
	makeIssue(t, f.store, "sang", "Số hai bị hủy", "cancelled", day(21))
	makeIssue(t, f.store, "sang", "Số <ba> & tin", "sending", day(22))

	status, body, h := f.do(t, "GET", "/newsletters/sang/", "", "")
	if status != http.StatusOK || h.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("archive page: %d %s", status, h.Get("Content-Type"))
	}
	for _, want := range []string{
		"<h1>Bản tin sáng</h1>", `lang="vi"`,
		`<a href="/newsletters/sang/3">Số &lt;ba&gt; &amp; tin</a>`, "Số 3 · Chủ Nhật, ngày 22 tháng 12 năm 2024",
		`<a href="/newsletters/sang/1">Số một: cầu mới</a>`, "Số 1 · Thứ Sáu, ngày 20 tháng 12 năm 2024",
		`title="Bản tin sáng (Atom)" href="https://baomau.vn/newsletters/sang/atom.xml">`,
		`href="/subscribe?list=sang"`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("archive page lacks %q", want)
		}
	}
	if strings.Contains(body, "bị hủy") || strings.Contains(body, "/newsletters/sang/2") {
		t.Error("archive page lists the cancelled issue")
	}
	if i, j := strings.Index(body, "/newsletters/sang/3"), strings.Index(body, "/newsletters/sang/1"); i > j {
		t.Error("archive page lists the oldest issue first")
	}
	if csp := h.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("archive page CSP %q", csp)
	}

	// An empty archive says so.
	if status, body, _ := f.do(t, "GET", "/newsletters/toi/", "", ""); status != http.StatusOK || !strings.Contains(body, "Chưa có số bản tin nào.") {
		t.Errorf("empty archive: %d %s", status, body)
	}

	// Each issue as sent, a cancelled one too: some readers have its link.
	for _, n := range []string{"1", "2", "3"} {
		t.Run("issue "+n, func(t *testing.T) {
			is, err := f.store.Issue(context.Background(), "sang", int(n[0]-'0'))
			if err != nil {
				t.Fatal(err)
			}
			status, body, h := f.do(t, "GET", "/newsletters/sang/"+n, "", "")
			if status != http.StatusOK || body != is.HTML {
				t.Errorf("issue %s: %d; body is the stored HTML: %v", n, status, body == is.HTML)
			}
			want := http.Header{
				"Content-Type":            {"text/html; charset=utf-8"},
				"Content-Security-Policy": {"default-src 'none'; img-src http: https: data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"},
				"X-Content-Type-Options":  {"nosniff"},
			}
			for k := range want {
				if diff := cmp.Diff(want[k], h.Values(k)); diff != "" {
					t.Errorf("%s (-want +got):\n%s", k, diff)
				}
			}
		})
	}

	status, _, h = f.raw(t, "/newsletters/sang", nil)
	if status != http.StatusMovedPermanently || h.Get("Location") != "/newsletters/sang/" {
		t.Errorf("without the slash: %d to %q; want 301 to /newsletters/sang/", status, h.Get("Location"))
	}

	for _, path := range []string{
		"/newsletters/khong-co/", "/newsletters/khong-co", "/newsletters/khong-co/1", "/newsletters/khong-co/atom.xml",
		"/newsletters/sang/4", "/newsletters/sang/0", "/newsletters/sang/01", "/newsletters/sang/+1", "/newsletters/sang/-1",
		"/newsletters/sang/1.0", "/newsletters/sang/abc", "/newsletters/sang/99999999999999999999", "/newsletters/sang/9223372036854775807",
		"/newsletters/toi/1",
	} {
		status, body, _ := f.do(t, "GET", path, "", "")
		if status != http.StatusNotFound || !strings.Contains(body, "Không tìm thấy trang") {
			t.Errorf("GET %s: %d; want the 404 page", path, status)
		}
	}
}

// raw sends a GET with exactly header (no Accept-Encoding added, no
// gzip undone) and follows no redirect.
func (f *fixture) raw(t *testing.T, path string, header http.Header) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest("GET", f.srv.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if header != nil {
		req.Header = header
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestNewsletterArchiveEnglish(t *testing.T) {
	f := newNewsletterFixture(t, "en", nil)
	makeIssue(t, f.store, "sang", "Morning", "sent", day(20))
	_, body, _ := f.do(t, "GET", "/newsletters/sang/", "", "")
	if !strings.Contains(body, "Issue 1 · Friday, 20 December 2024") || !strings.Contains(body, `lang="en"`) {
		t.Errorf("English archive page:\n%s", body)
	}
	if _, body, _ := f.do(t, "GET", "/newsletters/toi/", "", ""); !strings.Contains(body, "No issues yet.") {
		t.Errorf("empty English archive:\n%s", body)
	}
}

func TestNewsletterArchiveOff(t *testing.T) {
	f := newNewsletterFixture(t, "vi", func(o *web.Options) { o.Archive, o.Newsletters = nil, nil })
	for _, path := range []string{"/newsletters/sang/", "/newsletters/sang", "/newsletters/sang/1", "/newsletters/sang/atom.xml"} {
		if status, _, _ := f.do(t, "GET", path, "", ""); status != http.StatusNotFound {
			t.Errorf("GET %s without an archive: %d, want 404", path, status)
		}
	}
	for _, route := range []struct{ method, path string }{{"POST", "/api/v1/newsletters/sang/send"}, {"GET", "/api/v1/newsletters/sang/issues"}} {
		if status, body, _ := f.do(t, route.method, route.path, "Bearer "+token, ""); status != http.StatusNotFound || !strings.Contains(body, `"error"`) {
			t.Errorf("%s %s without newsletters: %d %s, want a 404 JSON error", route.method, route.path, status, body)
		}
	}
}

// atomFeed is the part of RFC 4287 the archive feed is checked for.
type atomFeed struct {
	XMLName xml.Name   `xml:"http://www.w3.org/2005/Atom feed"`
	Title   string     `xml:"title"`
	ID      string     `xml:"id"`
	Updated string     `xml:"updated"`
	Links   []atomLink `xml:"link"`
	Entries []struct {
		ID        string     `xml:"id"`
		Title     string     `xml:"title"`
		Updated   string     `xml:"updated"`
		Published string     `xml:"published"`
		Links     []atomLink `xml:"link"`
		Content   struct {
			Type string `xml:"type,attr"`
			Text string `xml:",chardata"`
		} `xml:"content"`
	} `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr"`
	Href string `xml:"href,attr"`
	Type string `xml:"type,attr"`
}

func TestNewsletterArchiveFeed(t *testing.T) {
	f := newNewsletterFixture(t, "vi", nil)
	makeIssue(t, f.store, "sang", "Số một", "sent", day(20))
	makeIssue(t, f.store, "sang", "Số hai bị hủy", "cancelled", day(21))
	makeIssue(t, f.store, "sang", "Số <ba> & tin", "sending", day(22))

	status, body, h := f.raw(t, "/newsletters/sang/atom.xml", nil)
	if status != http.StatusOK || h.Get("Content-Type") != "application/atom+xml; charset=utf-8" {
		t.Fatalf("atom.xml: %d %s", status, h.Get("Content-Type"))
	}
	var doc atomFeed
	if err := xml.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("atom.xml does not parse as Atom: %v\n%s", err, body)
	}
	if doc.Title != "Bản tin sáng" || doc.ID != "https://baomau.vn/newsletters/sang/atom.xml" || doc.Updated != "2024-12-22T06:01:00+07:00" {
		t.Errorf("feed title %q, id %q, updated %q", doc.Title, doc.ID, doc.Updated)
	}
	wantLinks := []atomLink{
		{Rel: "alternate", Href: "https://baomau.vn/newsletters/sang/", Type: "text/html"},
		{Rel: "self", Href: "https://baomau.vn/newsletters/sang/atom.xml", Type: "application/atom+xml"},
	}
	if diff := cmp.Diff(wantLinks, doc.Links); diff != "" {
		t.Errorf("feed links (-want +got):\n%s", diff)
	}
	type entry struct{ ID, Title, Updated, Link, ContentType string }
	var got []entry
	for _, e := range doc.Entries {
		link := ""
		for _, l := range e.Links {
			if l.Rel == "alternate" {
				link = l.Href
			}
		}
		got = append(got, entry{e.ID, e.Title, e.Updated, link, e.Content.Type})
		c := e.Content.Text
		if !strings.HasPrefix(c, "<table") || strings.Contains(c, "<body") || !strings.Contains(c, "<h2>"+html.EscapeString(e.Title)+"</h2>") ||
			!strings.Contains(c, `<img src="https://baomau.vn/anh/cau.jpg" alt="Cầu">`) || strings.Contains(c, "style=") {
			t.Errorf("entry %s content is not the issue's body without styles:\n%s", e.ID, c)
		}
	}
	want := []entry{
		{"https://baomau.vn/newsletters/sang/3", "Số <ba> & tin", "2024-12-22T06:01:00+07:00", "https://baomau.vn/newsletters/sang/3", "html"},
		{"https://baomau.vn/newsletters/sang/1", "Số một", "2024-12-20T06:01:00+07:00", "https://baomau.vn/newsletters/sang/1", "html"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("entries (-want +got):\n%s", diff)
	}
	if lm := h.Get("Last-Modified"); lm != "Sat, 21 Dec 2024 23:01:00 GMT" {
		t.Errorf("Last-Modified %q", lm)
	}

	// Conditional requests: 304 with the tag or the date, 200 when either
	// is stale; the gzip copy has its own tag.
	etag := h.Get("Etag")
	for _, tc := range []struct {
		name   string
		header http.Header
		want   int
	}{
		{"same tag", http.Header{"If-None-Match": {etag}}, http.StatusNotModified},
		{"old tag", http.Header{"If-None-Match": {`"old"`}}, http.StatusOK},
		{"same date", http.Header{"If-Modified-Since": {h.Get("Last-Modified")}}, http.StatusNotModified},
		{"older date", http.Header{"If-Modified-Since": {"Fri, 20 Dec 2024 00:00:00 GMT"}}, http.StatusOK},
		{"identity tag for gzip", http.Header{"If-None-Match": {etag}, "Accept-Encoding": {"gzip"}}, http.StatusOK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if status, _, _ := f.raw(t, "/newsletters/sang/atom.xml", tc.header); status != tc.want {
				t.Errorf("%d, want %d", status, tc.want)
			}
		})
	}

	_, zipped, zh := f.raw(t, "/newsletters/sang/atom.xml", http.Header{"Accept-Encoding": {"gzip"}})
	zr, err := gzip.NewReader(strings.NewReader(zipped))
	if err != nil {
		t.Fatalf("gzip answer: %v (Content-Encoding %q)", err, zh.Get("Content-Encoding"))
	}
	unzipped, _ := io.ReadAll(zr)
	if string(unzipped) != body || zh.Get("Etag") == etag || zh.Get("Content-Encoding") != "gzip" {
		t.Errorf("gzip copy: same bytes %v, tag %q beside identity tag %q", string(unzipped) == body, zh.Get("Etag"), etag)
	}
	if status, _, _ := f.raw(t, "/newsletters/sang/atom.xml", http.Header{"If-None-Match": {zh.Get("Etag")}, "Accept-Encoding": {"gzip"}}); status != http.StatusNotModified {
		t.Errorf("gzip tag for gzip: %d, want 304", status)
	}

	// A new issue changes the tag.
	makeIssue(t, f.store, "sang", "Số bốn", "sending", day(23))
	if status, _, _ := f.raw(t, "/newsletters/sang/atom.xml", http.Header{"If-None-Match": {etag}}); status != http.StatusOK {
		t.Errorf("after a new issue: %d, want 200", status)
	}

	// An empty archive is a valid, empty feed.
	_, body, _ = f.do(t, "GET", "/newsletters/toi/atom.xml", "", "")
	doc = atomFeed{}
	if err := xml.Unmarshal([]byte(body), &doc); err != nil || len(doc.Entries) != 0 || doc.Updated == "" {
		t.Errorf("empty archive feed: %v %+v", err, doc)
	}
}

func TestNewsletterAPI(t *testing.T) {
	f := newNewsletterFixture(t, "vi", nil)
	ctx := context.Background()
	routes := []struct{ method, path string }{{"POST", "/api/v1/newsletters/sang/send"}, {"GET", "/api/v1/newsletters/sang/issues"}}
	for _, tc := range []struct {
		auth string
		want int
	}{{"", http.StatusUnauthorized}, {"Bearer nope", http.StatusForbidden}} {
		for _, r := range routes {
			if status, body, _ := f.do(t, r.method, r.path, tc.auth, ""); status != tc.want || !strings.Contains(body, `"error"`) {
				t.Errorf("%s %s with %q: %d %s, want %d", r.method, r.path, tc.auth, status, body, tc.want)
			}
		}
	}
	if len(f.sends.asked) != 0 {
		t.Fatalf("SendNow called without the token: %v", f.sends.asked)
	}
	auth := "Bearer " + token

	// Three confirmed readers get issue 1: one sent, one failed, one queued.
	for _, email := range []string{"a@example.vn", "b@example.vn", "c@example.vn"} {
		sub, err := f.store.SaveSubscriber(ctx, store.Subscriber{Email: email}, f.now)
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.SetListStatus(ctx, sub.ID, "sang", store.Confirmed, f.now); err != nil {
			t.Fatal(err)
		}
	}
	first := makeIssue(t, f.store, "sang", "Số một", "sending", day(20))
	ds, err := f.store.ClaimDeliveries(ctx, first.ID, day(21), 2, time.Minute)
	if err != nil || len(ds) != 2 {
		t.Fatalf("claim: %d %v", len(ds), err)
	}
	for i, st := range []store.DeliveryStatus{store.DeliverySent, store.DeliveryFailed} {
		if err := f.store.MarkDelivery(ctx, ds[i], st, time.Time{}, "", day(21)); err != nil {
			t.Fatal(err)
		}
	}
	second := makeIssue(t, f.store, "sang", "Số hai", "cancelled", day(21))

	status, body, _ := f.do(t, "GET", "/api/v1/newsletters/sang/issues", auth, "")
	if status != http.StatusOK {
		t.Fatalf("issues: %d %s", status, body)
	}
	var list struct {
		Issues []map[string]any `json:"issues"`
	}
	if err := json.Unmarshal([]byte(body), &list); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"number": 2.0, "subject": "Số hai", "status": "cancelled", "window_start": "2024-12-20T06:00:00+07:00", "window_end": "2024-12-21T06:00:00+07:00",
			"created_at": "2024-12-21T06:01:00+07:00", "url": "https://baomau.vn/newsletters/sang/2",
			"counts": map[string]any{"queued": 0.0, "sent": 0.0, "failed": 0.0, "skipped": 3.0}},
		{"number": 1.0, "subject": "Số một", "status": "sending", "window_start": "2024-12-19T06:00:00+07:00", "window_end": "2024-12-20T06:00:00+07:00",
			"created_at": "2024-12-20T06:01:00+07:00", "url": "https://baomau.vn/newsletters/sang/1",
			"counts": map[string]any{"queued": 1.0, "sent": 1.0, "failed": 1.0, "skipped": 0.0}},
	}
	if diff := cmp.Diff(want, list.Issues); diff != "" {
		t.Errorf("issues (-want +got):\n%s", diff)
	}
	if status, body, _ := f.do(t, "GET", "/api/v1/newsletters/toi/issues", auth, ""); status != http.StatusOK || !strings.Contains(body, `"issues": []`) {
		t.Errorf("issues of a list without any: %d %s", status, body)
	}
	if status, body, _ := f.do(t, "GET", "/api/v1/newsletters/khong-co/issues", auth, ""); status != http.StatusNotFound || !strings.Contains(body, `"field": "list"`) {
		t.Errorf("issues of an unknown list: %d %s", status, body)
	}

	for _, tc := range []struct {
		name       string
		made       digest.Made
		err        error
		wantStatus int
		wantBody   map[string]any
	}{
		{"made", digest.Made{Issue: second, Deliveries: 3}, nil, http.StatusCreated, map[string]any{
			"deliveries": 3.0,
			"issue": map[string]any{"number": 2.0, "subject": "Số hai", "status": "cancelled", "window_start": "2024-12-20T06:00:00+07:00",
				"window_end": "2024-12-21T06:00:00+07:00", "created_at": "2024-12-21T06:01:00+07:00", "url": "https://baomau.vn/newsletters/sang/2"},
		}},
		{"nothing new", digest.Made{Reason: "no new articles since the last issue"}, nil, http.StatusOK,
			map[string]any{"issue": nil, "reason": "no new articles since the last issue"}},
		{"unknown list", digest.Made{}, fmt.Errorf("send now: %w", digest.ErrUnknownList), http.StatusNotFound,
			map[string]any{"error": `no newsletter "sang" is configured`, "field": "list"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f.sends.made, f.sends.err, f.sends.asked = tc.made, tc.err, nil
			status, body, _ := f.do(t, "POST", "/api/v1/newsletters/sang/send", auth, "")
			var got map[string]any
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatalf("%d %q: %v", status, body, err)
			}
			if status != tc.wantStatus {
				t.Errorf("status %d, want %d", status, tc.wantStatus)
			}
			if diff := cmp.Diff(tc.wantBody, got); diff != "" {
				t.Errorf("body (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff([]string{"sang"}, f.sends.asked); diff != "" {
				t.Errorf("SendNow calls (-want +got):\n%s", diff)
			}
		})
	}

	f.sends.err = fmt.Errorf("create issue: %w", store.ErrConflict)
	if status, body, _ := f.do(t, "POST", "/api/v1/newsletters/sang/send", auth, ""); status != http.StatusConflict || !strings.Contains(body, "another run") {
		t.Errorf("issue made meanwhile: %d %s, want 409", status, body)
	}

	// Any other failure is a 500 that says nothing of the cause.
	f.sends.err = fmt.Errorf("compose: secret database detail")
	if status, body, _ := f.do(t, "POST", "/api/v1/newsletters/sang/send", auth, ""); status != http.StatusInternalServerError || strings.Contains(body, "secret") {
		t.Errorf("failing SendNow: %d %s", status, body)
	}
}
