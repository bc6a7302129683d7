package main

import (
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// formPost posts a form to the running server with extra headers and
// returns the status and body.
func formPost(t *testing.T, u string, form url.Values, headers map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest("POST", u, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

// mailsTo returns the .eml files of the outbox addressed to email, with
// quoted-printable soft breaks and encoded headers undone enough to search.
func mailsTo(t *testing.T, dir, email string) []string {
	t.Helper()
	var out []string
	qp := regexp.MustCompile(`=([0-9A-F]{2})`)
	dec := new(mime.WordDecoder)
	for _, e := range emlFiles(t, filepath.Join(dir, "data", "outbox")) {
		if !strings.Contains(e, "To: <"+email+">") && !strings.Contains(e, "To: "+email) && !strings.Contains(e, "<"+email+">") {
			continue
		}
		e = strings.ReplaceAll(e, "=\r\n", "")
		e = qp.ReplaceAllStringFunc(e, func(m string) string {
			var b byte
			fmt.Sscanf(m[1:], "%02X", &b)
			return string([]byte{b})
		})
		if h, err := dec.DecodeHeader(e); err == nil {
			e = h
		}
		out = append(out, e)
	}
	return out
}

// TestSignupFormsHoldSubscribeConfirmResendAndAllowedOrigins drives serve
// as a stranger would abuse the sign-up form: one address signed up five
// times from five clients (behind a trusted proxy), for two lists, under
// five names, gets one confirmation email (subscribe.confirm_resend, 1h by
// default), which carries none of the typed names, also after a restart;
// a POST from another site's page is refused with 403 and stores nothing,
// one from subscribe.allowed_origins is taken; opening the confirmation
// link confirms nothing, its button does.
func TestSignupFormsHoldSubscribeConfirmResendAndAllowedOrigins(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	const token = "forms-token"
	writeConfig(t, dir, serveConfig(addr, token)+`  trusted_proxies: ["127.0.0.1/32"]
newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
  - {id: toi, title: "Bản tin tối", schedule: "0 18 * * *"}
subscribe:
  allowed_origins: ["https://cms.baomau.vn"]
`)
	d := startServe(t, dir, addr)
	base := "http://" + addr

	typed := []string{"Free prize at https://evil.example claim now", "Người lạ", "Ai đó", "Kẻ mạo danh", "Ngọc Nữ"}
	var first string
	for i, name := range typed {
		list := []string{"sang", "toi"}[i%2]
		code, body := formPost(t, base+"/subscribe", url.Values{"email": {"nu@example.vn"}, "name": {name}, "list": {list}},
			map[string]string{"X-Forwarded-For": fmt.Sprintf("198.51.100.%d", i+2)})
		if code != http.StatusOK {
			t.Fatalf("sign-up %d: %d", i+1, code)
		}
		if i == 0 {
			first = body
		} else if body != first {
			t.Errorf("sign-up %d got another page than the first; the form must not tell what it did", i+1)
		}
	}
	waitFor(t, 10*time.Second, "the confirmation email", func() bool { return len(mailsTo(t, dir, "nu@example.vn")) > 0 })
	time.Sleep(2 * time.Second) // the outbox sends every second: room for a second email to show up
	mails := mailsTo(t, dir, "nu@example.vn")
	if len(mails) != 1 {
		t.Fatalf("%d confirmation emails for five sign-ups of one address, want 1", len(mails))
	}
	for _, name := range typed {
		if strings.Contains(mails[0], name) {
			t.Errorf("the confirmation email carries the typed name %q", name)
		}
	}
	if !strings.Contains(mails[0], "Xin chào,") {
		t.Errorf("the confirmation email has no generic greeting:\n%s", mails[0])
	}
	confirm := regexp.MustCompile(`/confirm/[A-Za-z0-9_-]+`).FindString(mails[0])
	if confirm == "" {
		t.Fatalf("no confirmation link in:\n%s", mails[0])
	}

	// Another site's page posting the form: 403 in the site's language,
	// nothing stored, nothing sent.
	code, body := formPost(t, base+"/subscribe", url.Values{"email": {"nan-nhan@example.vn"}, "list": {"sang"}},
		map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"})
	if code != http.StatusForbidden || !strings.Contains(body, "Yêu cầu bị từ chối") {
		t.Errorf("cross-site sign-up: %d %.300s; want 403 with the Vietnamese page", code, body)
	}
	if _, list := httpGet(t, base+"/api/v1/subscribers?list=sang&status=pending", token); strings.Contains(list, "nan-nhan@") {
		t.Errorf("the cross-site sign-up was stored: %s", list)
	}
	if code, _ := formPost(t, base+"/subscribe", url.Values{"email": {"cms@example.vn"}, "list": {"sang"}},
		map[string]string{"Origin": "https://cms.baomau.vn", "Sec-Fetch-Site": "cross-site"}); code != http.StatusOK {
		t.Errorf("sign-up from subscribe.allowed_origins: %d, want 200", code)
	}
	if _, list := httpGet(t, base+"/api/v1/subscribers?list=sang&status=pending", token); !strings.Contains(list, "cms@example.vn") {
		t.Errorf("the allowed origin's sign-up is not pending: %s", list)
	}

	// Opening the link (a mail scanner) confirms nothing; the button does,
	// from the site's own page; a cross-site button press does not.
	code, body = httpGet(t, base+confirm, "")
	if code != http.StatusOK || !strings.Contains(body, `method="post" action="`+confirm+`"`) {
		t.Errorf("GET %s: %d; want a page with the button", confirm, code)
	}
	if _, list := httpGet(t, base+"/api/v1/subscribers?list=sang&status=confirmed", token); strings.Contains(list, "nu@example.vn") {
		t.Fatalf("GET on the confirmation link confirmed: %s", list)
	}
	if code, _ := formPost(t, base+confirm, nil, map[string]string{"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"}); code != http.StatusForbidden {
		t.Errorf("cross-site confirm: %d, want 403", code)
	}
	// The page offers toi too (signed up for after the email, which went
	// for sang only); the person ticks both.
	if !strings.Contains(body, `value="sang" checked`) || !strings.Contains(body, `value="toi"`) {
		t.Errorf("the confirmation page does not offer both lists:\n%s", body)
	}
	code, body = formPost(t, base+confirm, url.Values{"chosen": {"1"}, "list": {"sang", "toi"}}, map[string]string{"Origin": base, "Sec-Fetch-Site": "same-origin"})
	if code != http.StatusOK || !strings.Contains(body, "Đã xác nhận đăng ký") {
		t.Errorf("POST %s: %d %.300s", confirm, code, body)
	}
	for _, list := range []string{"sang", "toi"} {
		if _, got := httpGet(t, base+"/api/v1/subscribers?list="+list+"&status=confirmed", token); !strings.Contains(got, "nu@example.vn") || !strings.Contains(got, "Ngọc Nữ") {
			t.Errorf("after the button, %s's confirmed subscribers: %s; want nu@ under the last name typed", list, got)
		}
	}

	// The limit is in the store: a restarted serve sends cms@ no second
	// confirmation within the hour.
	waitFor(t, 10*time.Second, "the confirmation to cms@", func() bool { return len(mailsTo(t, dir, "cms@example.vn")) == 1 })
	d.kill(t)
	startServe(t, dir, addr)
	if code, _ := formPost(t, base+"/subscribe", url.Values{"email": {"cms@example.vn"}, "list": {"toi"}}, nil); code != http.StatusOK {
		t.Fatalf("sign-up after the restart: %d", code)
	}
	time.Sleep(2 * time.Second)
	if n := len(mailsTo(t, dir, "cms@example.vn")); n != 1 {
		t.Errorf("%d confirmations to cms@ across a restart within subscribe.confirm_resend, want 1", n)
	}
}

// TestPendingSignupsDeletedAfterSubscribeConfirmTTL: serve deletes
// sign-ups left pending past subscribe.confirm_ttl (at start, then
// hourly), with the address and name typed; a confirmed subscriber stays.
func TestPendingSignupsDeletedAfterSubscribeConfirmTTL(t *testing.T) {
	addr := freeAddr(t)
	dir := t.TempDir()
	const token = "sweep-token"
	writeConfig(t, dir, serveConfig(addr, token)+`newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
subscribe:
  confirm_ttl: 2s
`)
	mustRun(t, dir, 0, "subscribers", "add", "sang", "doc-gia@example.vn", "--confirmed")
	d := startServe(t, dir, addr)
	base := "http://" + addr
	if code, _ := formPost(t, base+"/subscribe", url.Values{"email": {"la@example.vn"}, "name": {"Người lạ"}, "list": {"sang"}}, nil); code != http.StatusOK {
		t.Fatalf("sign-up: %d", code)
	}
	if _, list := httpGet(t, base+"/api/v1/subscribers?list=sang&status=pending", token); !strings.Contains(list, "la@example.vn") {
		t.Fatalf("the sign-up is not pending: %s", list)
	}
	time.Sleep(2500 * time.Millisecond)
	d.kill(t)
	d = startServe(t, dir, addr)
	waitFor(t, 5*time.Second, "the sweep at start", func() bool { return strings.Contains(d.logs.String(), "pending sign-ups deleted") })
	if _, list := httpGet(t, base+"/api/v1/subscribers?list=sang&status=pending", token); strings.Contains(list, "la@example.vn") {
		t.Errorf("a sign-up pending past subscribe.confirm_ttl is still stored: %s", list)
	}
	if _, list := httpGet(t, base+"/api/v1/subscribers?list=sang&status=confirmed", token); !strings.Contains(list, "doc-gia@example.vn") {
		t.Errorf("the confirmed subscriber was deleted: %s", list)
	}
	if strings.Contains(d.logs.String(), "la@example.vn") {
		t.Errorf("the log names the address:\n%s", d.logs.String())
	}
}

// TestSubscribersAddHoldsSubscribeConfirmResend: the admin's add goes the
// sign-up way, limit included, and says when no email went out.
func TestSubscribersAddHoldsSubscribeConfirmResend(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(freeAddr(t), "")+`newsletters:
  - {id: sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
  - {id: toi, title: "Bản tin tối", schedule: "0 18 * * *"}
`)
	if out, _ := mustRun(t, dir, 0, "subscribers", "add", "sang", "lan@example.vn", "--name", "Lan"); !strings.Contains(out, "(confirmation email sent)") {
		t.Errorf("first add: %s", out)
	}
	out, _ := mustRun(t, dir, 0, "subscribers", "add", "toi", "lan@example.vn")
	if !strings.Contains(out, "no confirmation email now") || !strings.Contains(out, "subscribe.confirm_resend") {
		t.Errorf("second add within subscribe.confirm_resend: %s", out)
	}
	if n := len(mailsTo(t, dir, "lan@example.vn")); n != 1 {
		t.Errorf("%d confirmation emails, want 1", n)
	}
}
