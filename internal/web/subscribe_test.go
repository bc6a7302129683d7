package web_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/http"
	"net/http/httptest"
	netmail "net/mail"
	"net/netip"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/ingest"
	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
	"github.com/bantin/bantin/internal/subscriber"
	"github.com/bantin/bantin/internal/web"
	"github.com/bantin/bantin/templates"
	"golang.org/x/text/unicode/norm"
)

// signupFixture is a server with the subscription pages, mail written to
// .eml files by the real outbox.
type signupFixture struct {
	url    string
	store  *sqlite.Store
	subs   *subscriber.Service
	outbox *mail.Outbox
	dir    string
}

func newSignupFixture(t testing.TB, limit int, proxies ...netip.Prefix) *signupFixture {
	t.Helper()
	return newSignupFixtureWith(t, signupConfig{limit: limit, proxies: proxies})
}

// signupConfig is what a test sets of the subscribe keys.
type signupConfig struct {
	limit   int            // subscribe.rate_limit per hour; 0 for none
	proxies []netip.Prefix // server.trusted_proxies
	origins []string       // subscribe.allowed_origins
	resend  time.Duration  // subscribe.confirm_resend
	lang    string         // site.language; vi when ""
	logger  *slog.Logger
}

func newSignupFixtureWith(t testing.TB, c signupConfig) *signupFixture {
	t.Helper()
	if c.lang == "" {
		c.lang = "vi"
	}
	if c.logger == nil {
		c.logger = discardLogger()
	}
	st := sqlitetest.Open(t)
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	ft, err := mail.NewFileTransport(dir, hcm, time.Now)
	if err != nil {
		t.Fatal(err)
	}
	outbox := mail.NewOutbox(mail.OutboxOptions{Store: st, Transport: ft, Logger: discardLogger()})
	key, err := st.Secret(context.Background(), "subscriber-tokens", subscriber.SecretSize)
	if err != nil {
		t.Fatal(err)
	}
	tokens, _ := subscriber.NewTokens(key)
	srv := httptest.NewUnstartedServer(nil)
	srv.Start()
	t.Cleanup(srv.Close)
	subs := subscriber.NewService(subscriber.Options{
		Store: st, Mailer: outbox, Emails: tmpl, Tokens: tokens,
		Lists:     []subscriber.List{{ID: "sang", Title: "Bản tin sáng", Description: "Mỗi sáng 6 giờ"}, {ID: "toi", Title: "Bản tin tối"}},
		SiteTitle: "Báo Mẫu", BaseURL: srv.URL, Language: c.lang,
		From: netmail.Address{Name: "Báo Mẫu", Address: "news@baomau.vn"}, DoubleOptIn: true, ConfirmTTL: 168 * time.Hour,
		ConfirmResend: c.resend,
	})
	n, _ := article.NewNormalizer(article.NormalizerOptions{BaseURL: srv.URL, Location: hcm, ParseTime: ingest.ParseDate})
	srv.Config.Handler = web.New(web.Options{
		Site:  web.Site{Title: "Báo Mẫu", BaseURL: srv.URL, Language: c.lang, Location: hcm},
		Store: st, Normalizer: n, Templates: tmpl, Logger: c.logger,
		Subscriptions: subs, SubscriberAdmin: subs, AdminToken: token,
		TrustedProxies: c.proxies, SignupLimit: c.limit, SignupPeriod: time.Hour, AllowedOrigins: c.origins,
	})
	return &signupFixture{url: srv.URL, store: st, subs: subs, outbox: outbox, dir: dir}
}

func (f *signupFixture) send(t *testing.T) {
	t.Helper()
	if _, err := f.outbox.SendDue(context.Background()); err != nil {
		t.Fatal(err)
	}
}

// emails returns the text parts of the .eml files written so far.
func (f *signupFixture) emails(t *testing.T) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(f.dir, "*.eml"))
	var out []string
	for _, file := range files {
		r, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		msg, err := netmail.ReadMessage(r)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(msg.Body)
		r.Close()
		out = append(out, decodeQP(string(b)))
	}
	return out
}

// decodeQP undoes quoted-printable soft line breaks and =XX escapes enough
// to find links in a message body.
func decodeQP(s string) string {
	s = strings.ReplaceAll(s, "=\r\n", "")
	return regexp.MustCompile(`=([0-9A-F]{2})`).ReplaceAllStringFunc(s, func(m string) string {
		var b byte
		for _, c := range m[1:] {
			b <<= 4
			if c >= 'A' {
				b |= byte(c-'A') + 10
			} else {
				b |= byte(c - '0')
			}
		}
		return string([]byte{b})
	})
}

func postForm(t *testing.T, u string, form url.Values, header map[string]string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range header {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getPage(t *testing.T, u string) (int, string) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

var confirmRe = regexp.MustCompile(`/confirm/[A-Za-z0-9_-]+`)

func TestSignupFlow(t *testing.T) {
	f := newSignupFixture(t, 0)
	if status, body := getPage(t, f.url+"/subscribe?list=sang"); status != 200 || !strings.Contains(body, `value="sang" checked`) || !strings.Contains(body, "Mỗi sáng 6 giờ") {
		t.Fatalf("form: %d", status)
	}
	status, body := postForm(t, f.url+"/subscribe", url.Values{"email": {"Nu@Example.vn"}, "name": {"Ngọc Nữ"}, "list": {"sang", "toi"}}, nil)
	if status != 200 || !strings.Contains(body, "kiểm tra email") {
		t.Fatalf("sign-up: %d %s", status, body)
	}
	f.send(t)
	mails := f.emails(t)
	if len(mails) != 1 {
		t.Fatalf("%d emails, want the confirmation", len(mails))
	}
	link := confirmRe.FindString(mails[0])
	if link == "" {
		t.Fatalf("no confirmation link in:\n%s", mails[0])
	}
	// Opening the link (as a mail scanner does) shows the lists and a
	// button, and confirms nothing; the button confirms.
	status, body = getPage(t, f.url+link)
	if status != 200 || !strings.Contains(body, "Bản tin sáng") || !strings.Contains(body, "Bản tin tối") ||
		!strings.Contains(body, `<form class="box" method="post" action="`+link+`">`) || !strings.Contains(body, `value="toi" checked`) {
		t.Errorf("confirmation page: %d %s", status, body)
	}
	sub, _ := f.store.SubscriberByEmail(context.Background(), "nu@example.vn")
	if sub.Lists["sang"] != store.Pending || sub.Lists["toi"] != store.Pending {
		t.Errorf("lists after opening the link: %v; a GET must confirm nothing", sub.Lists)
	}
	status, body = postForm(t, f.url+link, url.Values{}, nil)
	if status != 200 || !strings.Contains(body, "Đã xác nhận đăng ký") || !strings.Contains(body, "Bản tin tối") {
		t.Errorf("confirm button: %d %s", status, body)
	}
	sub, _ = f.store.SubscriberByEmail(context.Background(), "nu@example.vn")
	if sub.Lists["sang"] != store.Confirmed || sub.Lists["toi"] != store.Confirmed {
		t.Errorf("lists after confirming: %v", sub.Lists)
	}

	// Signing up again with a confirmed address looks the same as a new
	// sign-up: the form tells nobody who reads what.
	if status, body := postForm(t, f.url+"/subscribe", url.Values{"email": {"NU@example.vn"}, "name": {"Kẻ mạo danh"}, "list": {"sang"}}, nil); status != 200 || !strings.Contains(body, "kiểm tra email") {
		t.Errorf("sign-up of a confirmed address: %d; want the same page as any sign-up", status)
	}
	if s, _ := f.store.Subscriber(context.Background(), sub.ID); s.Name != "Ngọc Nữ" {
		t.Errorf("a sign-up renamed the subscriber to %q", s.Name)
	}

	// The unsubscribe link of a digest: GET shows a button and changes
	// nothing; the button unsubscribes from that list.
	unsub, _ := f.subs.UnsubscribeLink(sub.ID, "sang")
	status, body = getPage(t, unsub)
	if status != 200 || !strings.Contains(body, "Nu@example.vn") || !strings.Contains(body, "<button") {
		t.Errorf("unsubscribe page: %d", status)
	}
	if s, _ := f.store.Subscriber(context.Background(), sub.ID); s.Lists["sang"] != store.Confirmed {
		t.Error("GET on the unsubscribe link unsubscribed")
	}
	status, body = postForm(t, unsub, url.Values{}, nil)
	if status != 200 || !strings.Contains(body, "Đã hủy đăng ký") {
		t.Errorf("unsubscribe button: %d", status)
	}
	if s, _ := f.store.Subscriber(context.Background(), sub.ID); s.Lists["sang"] != store.Unsubscribed || s.Lists["toi"] != store.Confirmed {
		t.Errorf("after the button: %v", s.Lists)
	}
	// RFC 8058 one-click from the mail client, for every list.
	all, _ := f.subs.UnsubscribeLink(sub.ID, "")
	status, body = postForm(t, all, url.Values{"List-Unsubscribe": {"One-Click"}}, nil)
	if status != 200 || strings.TrimSpace(body) != "unsubscribed" {
		t.Errorf("one-click: %d %q", status, body)
	}
	if s, _ := f.store.Subscriber(context.Background(), sub.ID); s.Lists["toi"] != store.Unsubscribed {
		t.Errorf("after one-click: %v", s.Lists)
	}

	// Preferences: back on one list, with one category.
	prefs, _ := f.subs.PreferencesLink(sub.ID)
	if status, _ := getPage(t, prefs); status != 200 {
		t.Errorf("preferences page: %d", status)
	}
	status, _ = postForm(t, prefs, url.Values{"list": {"toi"}, "category": {"thoi-su"}}, nil)
	if s, _ := f.store.Subscriber(context.Background(), sub.ID); status != 200 || s.Lists["toi"] != store.Unsubscribed || len(s.Categories) != 1 {
		t.Errorf("after saving preferences: %d %v %v; a left list stays left, categories saved", status, s.Lists, s.Categories)
	}

	// Forged and cross-purpose tokens change nothing.
	for _, u := range []string{f.url + "/unsubscribe/AAAA", prefs[:len(prefs)-3] + "xyz", strings.Replace(prefs, "/preferences/", "/unsubscribe/", 1)} {
		if status, _ := postForm(t, u, url.Values{"List-Unsubscribe": {"One-Click"}}, nil); status != 404 {
			t.Errorf("POST %s: %d, want 404", u, status)
		}
	}
	if status, _ := getPage(t, f.url+"/confirm/AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"); status != 404 {
		t.Errorf("forged confirmation: %d", status)
	}
	if s, _ := f.store.Subscriber(context.Background(), sub.ID); s.Lists["toi"] != store.Unsubscribed || s.Lists["sang"] != store.Unsubscribed {
		t.Errorf("a forged token changed the subscription: %v", s.Lists)
	}
}

func TestSignupRefusals(t *testing.T) {
	f := newSignupFixture(t, 4)
	for _, form := range []url.Values{
		{"email": {"khong-phai-email"}, "list": {"sang"}},
		{"email": {"nu@example.vn\r\nBcc: x@y.z"}, "list": {"sang"}},
		{"email": {"nu@example.vn"}},
		{"email": {"nu@example.vn"}, "list": {"khong-co"}},
	} {
		if status, body := postForm(t, f.url+"/subscribe", form, map[string]string{"X-Forwarded-For": "203.0.113.9"}); status != 400 || !strings.Contains(body, `role="alert"`) {
			t.Errorf("%v: %d", form, status)
		}
	}
	// The limit counts per client, refused forms too: the four above used
	// the four allowed an hour.
	if status, _ := postForm(t, f.url+"/subscribe", url.Values{"email": {"a@example.vn"}, "list": {"sang"}}, nil); status != http.StatusTooManyRequests {
		t.Errorf("fifth sign-up from one address: %d, want 429", status)
	}
	// A bot that fills the hidden field is told all went well; nothing is stored.
	f2 := newSignupFixture(t, 0)
	if status, _ := postForm(t, f2.url+"/subscribe", url.Values{"email": {"bot@example.vn"}, "list": {"sang"}, "website": {"http://spam"}}, nil); status != 200 {
		t.Errorf("honeypot: %d", status)
	}
	if _, err := f2.store.SubscriberByEmail(context.Background(), "bot@example.vn"); err == nil {
		t.Error("the honeypot sign-up was stored")
	}
	if status, _ := postForm(t, f2.url+"/subscribe", url.Values{"email": {strings.Repeat("a", 20<<10) + "@x.vn"}, "list": {"sang"}}, nil); status != http.StatusRequestEntityTooLarge {
		t.Errorf("a 20 KiB form: %d, want 413", status)
	}
}

// TestForwardedForTrust: X-Forwarded-For counts only from a trusted proxy;
// otherwise a client could dodge the limit by inventing addresses.
func TestForwardedForTrust(t *testing.T) {
	untrusted := newSignupFixture(t, 1)
	for i := range 2 {
		status, _ := postForm(t, untrusted.url+"/subscribe", url.Values{"email": {"a@example.vn"}, "list": {"sang"}},
			map[string]string{"X-Forwarded-For": "198.51.100." + string(rune('1'+i))})
		if i == 1 && status != http.StatusTooManyRequests {
			t.Errorf("a forged X-Forwarded-For escaped the limit: %d", status)
		}
	}
	trusted := newSignupFixture(t, 1, netip.MustParsePrefix("127.0.0.0/8"))
	for i := range 2 {
		status, _ := postForm(t, trusted.url+"/subscribe", url.Values{"email": {"a@example.vn"}, "list": {"sang"}},
			map[string]string{"X-Forwarded-For": "198.51.100." + string(rune('1'+i))})
		if status != 200 {
			t.Errorf("two clients behind a trusted proxy: sign-up %d got %d", i+1, status)
		}
	}
}

func TestSubscribersAPI(t *testing.T) {
	f := newSignupFixture(t, 0)
	call := func(method, path, body string, auth bool) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, f.url+path, strings.NewReader(body))
		if auth {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if status, _ := call("GET", "/api/v1/subscribers?list=sang", "", false); status != 401 {
		t.Errorf("without the token: %d", status)
	}
	status, body := call("POST", "/api/v1/subscribers", `{"list":"sang","email":"Nu@Example.vn","name":"Ngọc Nữ","confirmed":true}`, true)
	if status != 201 || !strings.Contains(body, `"sang": "confirmed"`) {
		t.Errorf("add: %d %s", status, body)
	}
	if status, _ := call("POST", "/api/v1/subscribers", `{"list":"sang","email":"nu@example.vn","confirmed":true}`, true); status != 200 {
		t.Errorf("the same again: %d, want 200", status)
	}
	for _, tc := range []struct{ body, field string }{
		{`{"list":"sang","email":"khong-phai"}`, "email"},
		{`{"list":"khong-co","email":"a@example.vn","confirmed":true}`, "list"},
	} {
		if status, body := call("POST", "/api/v1/subscribers", tc.body, true); status != 400 || !strings.Contains(body, `"field": "`+tc.field+`"`) {
			t.Errorf("%s: %d %s", tc.body, status, body)
		}
	}
	if status, _ := call("POST", "/api/v1/subscribers", `{"list":"sang","email":"a@example.vn","admin":true}`, true); status != 400 {
		t.Errorf("unknown key: %d", status)
	}
	// Without confirmed, the double opt-in email is queued.
	if status, _ := call("POST", "/api/v1/subscribers", `{"list":"toi","email":"hoa@example.vn"}`, true); status != 201 {
		t.Errorf("add pending: %d", status)
	}
	f.send(t)
	if mails := f.emails(t); len(mails) != 1 || confirmRe.FindString(mails[0]) == "" {
		t.Errorf("%d emails after an unconfirmed add; want one with a confirmation link", len(mails))
	}
	status, body = call("GET", "/api/v1/subscribers?list=sang", "", true)
	if status != 200 || !strings.Contains(body, "Nu@example.vn") {
		t.Errorf("list: %d %s", status, body)
	}
	if status, body := call("GET", "/api/v1/subscribers?list=toi&status=pending", "", true); status != 200 || !strings.Contains(body, "hoa@example.vn") {
		t.Errorf("pending list: %d %s", status, body)
	}
	if status, _ := call("DELETE", "/api/v1/subscribers/sang/nu@example.vn", "", true); status != 204 {
		t.Errorf("remove: %d", status)
	}
	if status, body := call("GET", "/api/v1/subscribers?list=sang", "", true); status != 200 || strings.Contains(body, "Nu@example.vn") {
		t.Errorf("after remove: %s", body)
	}
	if status, _ := call("DELETE", "/api/v1/subscribers/sang/ai@example.vn", "", true); status != 404 {
		t.Errorf("remove someone unknown: %d", status)
	}
}

// TestConfirmationEmail checks the confirmation email as a mail client
// sees it: headers, encoded subject, MIME structure, NFC text.
func TestConfirmationEmail(t *testing.T) {
	f := newSignupFixture(t, 0)
	if status, _ := postForm(t, f.url+"/subscribe", url.Values{"email": {"nu@example.vn"}, "name": {norm.NFD.String("Ngọc Nữ")}, "list": {"sang"}}, nil); status != 200 {
		t.Fatal(status)
	}
	f.send(t)
	files, _ := filepath.Glob(filepath.Join(f.dir, "*.eml"))
	if len(files) != 1 {
		t.Fatalf("%d .eml files", len(files))
	}
	raw, _ := os.ReadFile(files[0])
	if strings.Contains(strings.ReplaceAll(string(raw), "\r\n", ""), "\n") {
		t.Error("a line ends without CR")
	}
	msg, err := netmail.ReadMessage(strings.NewReader(string(raw)))
	if err != nil {
		t.Fatal(err)
	}
	h := msg.Header
	dec := new(mime.WordDecoder)
	subject, _ := dec.DecodeHeader(h.Get("Subject"))
	from, _ := netmail.ParseAddress(h.Get("From"))
	to, _ := netmail.ParseAddress(h.Get("To"))
	// Nothing typed into the form but the address: the name waits for the
	// confirmation.
	if subject != "Xác nhận đăng ký nhận bản tin Báo Mẫu" || from.Address != "news@baomau.vn" || from.Name != "Báo Mẫu" ||
		to.Name != "" || to.Address != "nu@example.vn" {
		t.Errorf("subject %q, from %v, to %v", subject, from, to)
	}
	if id := h.Get("Message-Id"); !strings.HasSuffix(id, "@baomau.vn>") {
		t.Errorf("Message-ID %q not on the sender's domain", id)
	}
	if _, err := h.Date(); err != nil {
		t.Errorf("Date: %v", err)
	}
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mediaType != "multipart/alternative" {
		t.Fatalf("Content-Type %q", h.Get("Content-Type"))
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	var types []string
	for {
		p, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		ct, _, _ := mime.ParseMediaType(p.Header.Get("Content-Type"))
		types = append(types, ct)
		body, _ := io.ReadAll(quotedprintable.NewReader(p))
		if !norm.NFC.IsNormal(body) {
			t.Errorf("%s part is not NFC", ct)
		}
		if strings.Contains(string(body), "Ngọc Nữ") || !strings.Contains(string(body), "Xin chào,") || !strings.Contains(string(body), "/confirm/") {
			t.Errorf("%s part has the typed name, or lacks the greeting or the link:\n%s", ct, body)
		}
	}
	if strings.Join(types, ",") != "text/plain,text/html" {
		t.Errorf("parts %v, want text/plain then text/html", types)
	}
}

// TestLogsHoldNoTokens: the request log shows /confirm/{token}, never a
// token or an address from a path.
func TestLogsHoldNoTokens(t *testing.T) {
	logs := &syncWriter{b: &strings.Builder{}}
	st := sqlitetest.Open(t)
	tmpl, _ := templates.Load("")
	key, _ := st.Secret(context.Background(), "subscriber-tokens", subscriber.SecretSize)
	tokens, _ := subscriber.NewTokens(key)
	subs := subscriber.NewService(subscriber.Options{Store: st, Mailer: nopMailer{}, Emails: tmpl, Tokens: tokens,
		Lists: []subscriber.List{{ID: "sang", Title: "Bản tin sáng"}}, BaseURL: "http://x", Language: "vi",
		From: netmail.Address{Address: "news@baomau.vn"}})
	n, _ := article.NewNormalizer(article.NormalizerOptions{BaseURL: "http://x", Location: hcm, ParseTime: ingest.ParseDate})
	srv := httptest.NewServer(web.New(web.Options{
		Site: web.Site{Title: "x", BaseURL: "http://x", Language: "vi", Location: hcm}, Store: st, Normalizer: n, Templates: tmpl,
		Logger: slog.New(slog.NewTextHandler(logs, nil)), Subscriptions: subs, SubscriberAdmin: subs, AdminToken: token,
	}))
	defer srv.Close()
	secret := "AWMBkOmEsQ0APxVuA4yeOXUHXKKJ5AaZ1h1g2t7b2Tk0"
	for _, p := range []string{"/confirm/", "/unsubscribe/", "/preferences/"} {
		getPage(t, srv.URL+p+secret)
	}
	req, _ := http.NewRequest("DELETE", srv.URL+"/api/v1/subscribers/sang/private@example.vn", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	// The log line is written after the response: wait for the last one.
	deadline := time.Now().Add(time.Second)
	for !strings.Contains(logs.String(), "{email}") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	out := logs.String()
	if strings.Contains(out, secret) || strings.Contains(out, "private@example.vn") || !strings.Contains(out, "/confirm/{token}") {
		t.Errorf("the log holds a token or an address, or no route:\n%s", out)
	}
}

type nopMailer struct{}

func (nopMailer) Enqueue(context.Context, string, int64, mail.Message) (string, error) {
	return "", nil
}

type syncWriter struct {
	mu sync.Mutex
	b  *strings.Builder
}

func (w *syncWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

func (w *syncWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

// crossSite is what a browser sends with a form posted from another
// site's page.
var crossSite = map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}

// TestCrossOriginPostsRefusedUnlessSubscribeAllowedOrigins: a page on
// another site cannot post any public form (it would relay mail, confirm,
// unsubscribe or change preferences for a stranger), unless that site is
// in subscribe.allowed_origins; the 403 page is in the site's language. A
// one-click unsubscribe from a mail provider's server (no browser
// headers) still works.
func TestCrossOriginPostsRefusedUnlessSubscribeAllowedOrigins(t *testing.T) {
	ctx := context.Background()
	for _, lang := range []string{"vi", "en"} {
		t.Run(lang, func(t *testing.T) {
			f := newSignupFixtureWith(t, signupConfig{origins: []string{"https://cms.baomau.vn"}, lang: lang})
			want403 := map[string]string{"vi": "Yêu cầu bị từ chối", "en": "Request refused"}[lang]
			form := url.Values{"email": {"nu@example.vn"}, "name": {"Nữ"}, "list": {"sang"}}
			status, body := postForm(t, f.url+"/subscribe", form, crossSite)
			if status != http.StatusForbidden || !strings.Contains(body, want403) {
				t.Errorf("cross-site sign-up: %d %s; want 403 with %q", status, body, want403)
			}
			// An old browser sends Origin only.
			if status, _ := postForm(t, f.url+"/subscribe", form, map[string]string{"Origin": "https://evil.example"}); status != http.StatusForbidden {
				t.Errorf("sign-up with a foreign Origin only: %d, want 403", status)
			}
			if _, err := f.store.SubscriberByEmail(ctx, "nu@example.vn"); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("a refused sign-up was stored: %v", err)
			}
			f.send(t)
			if n := len(f.emails(t)); n != 0 {
				t.Errorf("%d emails after refused sign-ups", n)
			}
			allowed := map[string]string{"Origin": "https://cms.baomau.vn", "Sec-Fetch-Site": "cross-site"}
			if status, _ := postForm(t, f.url+"/subscribe", form, allowed); status != 200 {
				t.Fatalf("sign-up from an allowed origin: %d, want 200", status)
			}
			same := map[string]string{"Origin": f.url, "Sec-Fetch-Site": "same-origin"}
			if status, _ := postForm(t, f.url+"/subscribe", url.Values{"email": {"hoa@example.vn"}, "list": {"sang"}}, same); status != 200 {
				t.Errorf("sign-up from the site's own page: %d, want 200", status)
			}
			f.send(t)
			mails := f.emails(t)
			if len(mails) != 2 {
				t.Fatalf("%d emails, want two confirmations", len(mails))
			}
			link := confirmRe.FindString(mails[0])
			if status, body := postForm(t, f.url+link, url.Values{}, crossSite); status != http.StatusForbidden || !strings.Contains(body, want403) {
				t.Errorf("cross-site confirm: %d, want 403", status)
			}
			for _, email := range []string{"nu@example.vn", "hoa@example.vn"} {
				if s, _ := f.store.SubscriberByEmail(ctx, email); s.Lists["sang"] != store.Pending {
					t.Errorf("%s after a cross-site confirm: %v", email, s.Lists)
				}
			}
			if status, _ := postForm(t, f.url+link, url.Values{}, same); status != 200 {
				t.Errorf("confirm from the site's page: %d", status)
			}
			nu, _ := f.store.SubscriberByEmail(ctx, "nu@example.vn")
			unsub, _ := f.subs.UnsubscribeLink(nu.ID, "")
			prefs, _ := f.subs.PreferencesLink(nu.ID)
			if status, _ := postForm(t, prefs, url.Values{"category": {"thoi-su"}}, crossSite); status != http.StatusForbidden {
				t.Errorf("cross-site preferences: %d, want 403", status)
			}
			if status, _ := postForm(t, unsub, url.Values{}, crossSite); status != http.StatusForbidden {
				t.Errorf("cross-site unsubscribe: %d, want 403", status)
			}
			if s, _ := f.store.Subscriber(ctx, nu.ID); len(s.Categories) != 0 || s.Lists["sang"] == store.Unsubscribed {
				t.Errorf("cross-site posts changed %v %v", s.Lists, s.Categories)
			}
			// RFC 8058: the mail provider's server posts with no browser headers.
			if status, body := postForm(t, unsub, url.Values{"List-Unsubscribe": {"One-Click"}}, nil); status != 200 || strings.TrimSpace(body) != "unsubscribed" {
				t.Errorf("one-click unsubscribe without browser headers: %d %q", status, body)
			}
			if s, _ := f.store.Subscriber(ctx, nu.ID); s.Lists["sang"] != store.Unsubscribed {
				t.Errorf("one-click did not unsubscribe: %v", s.Lists)
			}
		})
	}
}

// TestOneConfirmationPerSubscribeConfirmResend: five sign-ups of one
// address from five clients, for different lists and under different
// names, send one confirmation email, with no typed name in it; every
// sign-up gets the same page.
func TestOneConfirmationPerSubscribeConfirmResend(t *testing.T) {
	f := newSignupFixtureWith(t, signupConfig{limit: 5, proxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}, resend: time.Hour})
	var pages []string
	for i, c := range []struct{ list, name string }{
		{"sang", "Free prize at https://evil.example claim now"}, {"toi", "Người lạ"}, {"sang", "Ai đó"}, {"toi", ""}, {"sang", "Ngọc Nữ"},
	} {
		status, body := postForm(t, f.url+"/subscribe", url.Values{"email": {"nu@example.vn"}, "name": {c.name}, "list": {c.list}},
			map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i+1)})
		if status != 200 {
			t.Fatalf("sign-up %d: %d", i+1, status)
		}
		pages = append(pages, body)
	}
	for i, p := range pages[1:] {
		if p != pages[0] {
			t.Errorf("sign-up %d got another page than the first", i+2)
		}
	}
	f.send(t)
	mails := f.emails(t)
	if len(mails) != 1 {
		t.Fatalf("%d confirmation emails for five sign-ups within subscribe.confirm_resend, want 1", len(mails))
	}
	for _, typed := range []string{"evil.example", "Free prize", "Người lạ", "Ngọc Nữ", "Ai đó"} {
		if strings.Contains(mails[0], typed) {
			t.Errorf("the confirmation email holds the typed %q", typed)
		}
	}
	// The last name typed is kept for when the address is confirmed.
	if s, _ := f.store.SubscriberByEmail(context.Background(), "nu@example.vn"); s.Name != "Ngọc Nữ" {
		t.Errorf("name %q, want the last typed, Ngọc Nữ", s.Name)
	}
}

// TestStoreErrorLogsNoAddress: a sign-up that fails in the store is logged
// (a 500) without the address.
func TestStoreErrorLogsNoAddress(t *testing.T) {
	logs := &syncWriter{b: &strings.Builder{}}
	f := newSignupFixtureWith(t, signupConfig{logger: slog.New(slog.NewTextHandler(logs, nil))})
	f.store.Close()
	status, _ := postForm(t, f.url+"/subscribe", url.Values{"email": {"bi-mat@example.vn"}, "list": {"sang"}}, nil)
	if status != http.StatusInternalServerError {
		t.Fatalf("sign-up on a closed store: %d, want 500", status)
	}
	deadline := time.Now().Add(time.Second)
	for !strings.Contains(logs.String(), "request failed") && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	out := logs.String()
	if !strings.Contains(out, "request failed") || !strings.Contains(out, store.AddressRef("bi-mat@example.vn")) {
		t.Errorf("no error line naming the address's hash:\n%s", out)
	}
	if strings.Contains(out, "bi-mat") {
		t.Errorf("the log holds the address:\n%s", out)
	}
}

// TestConfirmPageOffersListsPendingSinceSubscribeConfirmResend: within
// subscribe.confirm_resend a second sign-up (another list) sends no email;
// the first email's page shows that list too, unticked, and the person can
// tick it.
func TestConfirmPageOffersListsPendingSinceSubscribeConfirmResend(t *testing.T) {
	f := newSignupFixtureWith(t, signupConfig{resend: time.Hour})
	for _, list := range []string{"sang", "toi"} {
		if status, _ := postForm(t, f.url+"/subscribe", url.Values{"email": {"nu@example.vn"}, "list": {list}}, nil); status != 200 {
			t.Fatal(status)
		}
	}
	f.send(t)
	mails := f.emails(t)
	if len(mails) != 1 {
		t.Fatalf("%d emails, want 1", len(mails))
	}
	link := confirmRe.FindString(mails[0])
	_, body := getPage(t, f.url+link)
	if !strings.Contains(body, `value="sang" checked`) || !strings.Contains(body, `value="toi">`) {
		t.Errorf("confirmation page does not offer sang ticked and toi unticked:\n%s", body)
	}
	// Unticked toi stays pending; ticked, it is confirmed.
	postForm(t, f.url+link, url.Values{"chosen": {"1"}, "list": {"sang"}}, nil)
	if s, _ := f.store.SubscriberByEmail(context.Background(), "nu@example.vn"); s.Lists["sang"] != store.Confirmed || s.Lists["toi"] != store.Pending {
		t.Errorf("after confirming sang: %v", s.Lists)
	}
	postForm(t, f.url+link, url.Values{"chosen": {"1"}, "list": {"toi", "khong-co"}}, nil)
	if s, _ := f.store.SubscriberByEmail(context.Background(), "nu@example.vn"); s.Lists["toi"] != store.Confirmed || len(s.Lists) != 2 {
		t.Errorf("after confirming toi: %v", s.Lists)
	}
}
