package main

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/config"
)

// webhookPost posts body to the running serve with the given basic auth
// (none when user is empty) and returns the status and body.
func webhookPost(t *testing.T, url, user, password string, body []byte) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if user != "" {
		req.SetBasicAuth(user, password)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// startWebhookServe runs serve in dir until the test ends and waits for it to
// answer on addr; its log is shown when the test fails.
func startWebhookServe(t *testing.T, dir, addr string) *syncBuffer {
	t.Helper()
	cmd := exec.Command(binary(t), "serve")
	cmd.Dir = dir
	cmd.Env = cleanEnv()
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
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
		resp, err := http.Get("http://" + addr + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return logs
}

// mailgunSigned is a Mailgun webhook body signed now with key.
func mailgunSigned(key, token, eventData string) []byte {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(key))
	mac.Write([]byte(ts + token))
	return []byte(fmt.Sprintf(`{"signature":{"timestamp":%q,"token":%q,"signature":%q},"event-data":%s}`,
		ts, token, hex.EncodeToString(mac.Sum(nil)), eventData))
}

// TestBounceWebhooksThroughServe drives serve's webhooks as Mailgun and
// Postmark would: forged requests get 401 and change nobody, a signed
// permanent failure makes its subscriber bounced (subscribe.bounce_limit
// 1), a Postmark spam complaint unsubscribes its reader, a provider left
// unconfigured is 404 and a body over 1 MiB 413.
func TestBounceWebhooksThroughServe(t *testing.T) {
	dir := t.TempDir()
	addr := freeAddr(t)
	const mgKey = "mg-signing-key-0123456789"
	writeConfig(t, dir, serveConfig(addr, "")+`newsletters:
  - {id: ban-tin-sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
mail:
  from: "Báo Mẫu <news@baomau.vn>"
  return_path: bounces@baomau.vn
subscribe:
  bounce_limit: 1
bounces:
  mailgun:
    signing_key: `+mgKey+`
  postmark:
    username: postmark
    password: pm-pass-0123
`)
	for _, a := range []string{"an@example.vn", "chi@example.vn", "dung@example.vn"} {
		mustRun(t, dir, 0, "subscribers", "add", "ban-tin-sang", a, "--confirmed")
	}

	logs := startWebhookServe(t, dir, addr)
	base := "http://" + addr

	failed := func(addr string) string {
		return `{"event":"failed","id":"ev-` + addr + `","severity":"permanent","reason":"bounce","recipient":"` + addr + `",
"delivery-status":{"code":550,"message":"5.1.1 The email account that you tried to reach does not exist"},
"message":{"headers":{"message-id":"<issue-1.` + addr + `>"}}}`
	}
	complaint := func(addr string) []byte {
		return []byte(`{"RecordType":"SpamComplaint","ID":42,"Type":"SpamComplaint","Email":"` + addr + `",
"Description":"The subscriber explicitly marked this message as spam."}`)
	}

	// Forged: a wrong key, a replayed token, a wrong password, none.
	mg := base + "/webhooks/bounces/mailgun"
	pm := base + "/webhooks/bounces/postmark"
	if status, body := webhookPost(t, mg, "", "", mailgunSigned("not-the-key", "tok-forged", failed("dung@example.vn"))); status != 401 {
		t.Errorf("Mailgun signed with another key: %d %s, want 401", status, body)
	}
	if status, body := webhookPost(t, pm, "postmark", "wrong", complaint("dung@example.vn")); status != 401 {
		t.Errorf("Postmark with a wrong password: %d %s, want 401", status, body)
	}
	if status, body := webhookPost(t, pm, "", "", complaint("dung@example.vn")); status != 401 {
		t.Errorf("Postmark without auth: %d %s, want 401", status, body)
	}

	// Good ones.
	good := mailgunSigned(mgKey, "tok-good-1", failed("an@example.vn"))
	if status, body := webhookPost(t, mg, "", "", good); status != 200 || !strings.Contains(body, `"bounced": 1`) {
		t.Errorf("Mailgun signed: %d %s, want 200 and one bounced", status, body)
	}
	if status, body := webhookPost(t, mg, "", "", good); status != 401 {
		t.Errorf("the same Mailgun request again: %d %s, want 401 (a replay)", status, body)
	}
	if status, body := webhookPost(t, pm, "postmark", "pm-pass-0123", complaint("chi@example.vn")); status != 200 || !strings.Contains(body, `"unsubscribed": 1`) {
		t.Errorf("Postmark with its password: %d %s, want 200 and one unsubscribed", status, body)
	}
	// An event that names nobody is still taken: the provider would
	// otherwise send it again for days.
	if status, body := webhookPost(t, mg, "", "", mailgunSigned(mgKey, "tok-good-2", failed("nobody@example.vn"))); status != 200 || !strings.Contains(body, `"unknown": 1`) {
		t.Errorf("Mailgun naming nobody: %d %s, want 200 and one unknown", status, body)
	}
	// Off, too large, broken after a good check.
	if status, _ := webhookPost(t, base+"/webhooks/bounces/ses", "", "", []byte(`{}`)); status != 404 {
		t.Errorf("SES without topic_arns: %d, want 404", status)
	}
	if status, _ := webhookPost(t, pm, "postmark", "pm-pass-0123", bytes.Repeat([]byte(" "), 1<<20+1)); status != 413 {
		t.Errorf("a body over 1 MiB: %d, want 413", status)
	}
	if status, _ := webhookPost(t, pm, "postmark", "pm-pass-0123", []byte(`{"RecordType":`)); status != 400 {
		t.Errorf("broken JSON with the right password: %d, want 400", status)
	}

	// What the subscribers' statuses say.
	out, _ := mustRun(t, dir, 0, "subscribers", "list", "ban-tin-sang")
	lines := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 {
			lines[f[0]] = l
		}
	}
	if l := lines["an@example.vn"]; !strings.Contains(l, "bounced") {
		t.Errorf("an@example.vn, hard-bounced at subscribe.bounce_limit 1, is listed as %q, want bounced", l)
	}
	if l, ok := lines["chi@example.vn"]; ok {
		t.Errorf("chi@example.vn, who complained, is still listed as %q", l)
	}
	if l := lines["dung@example.vn"]; !strings.Contains(l, "confirmed") || strings.Contains(l, "bounced") {
		t.Errorf("dung@example.vn, named only by forgeries, is listed as %q, want confirmed", l)
	}
	out, _ = mustRun(t, dir, 0, "subscribers", "list", "ban-tin-sang", "--status", "unsubscribed")
	if !strings.Contains(out, "chi@example.vn") {
		t.Errorf("unsubscribed: want chi@example.vn:\n%s", out)
	}
	waitFor(t, 5*time.Second, "serve to log the last webhook", func() bool {
		return strings.Contains(logs.String(), "outcome=malformed")
	})
	log := logs.String()
	for _, want := range []string{`provider=mailgun outcome=refused`, `provider=postmark outcome=refused`,
		`provider=mailgun outcome=ok events=1 outcomes="bounced=1"`, `provider=postmark outcome=ok events=1 outcomes="unsubscribed=1"`} {
		if !strings.Contains(log, want) {
			t.Errorf("serve log lacks %q", want)
		}
	}
	for _, secret := range []string{mgKey, "pm-pass-0123"} {
		if strings.Contains(log, secret) {
			t.Errorf("serve log shows the secret %q", secret)
		}
	}
}

// TestConfigCheckNamesABadSendGridKey: a verification key SendGrid could
// not have shown is a config error (exit 2) naming its key, from config
// check as from serve's start, not a webhook that refuses every request.
func TestConfigCheckNamesABadSendGridKey(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(freeAddr(t), "")+"bounces:\n  sendgrid:\n    public_key: not-a-key\n")
	for _, args := range [][]string{{"config", "check"}, {"serve"}} {
		code, _, errOut := bantin(t, dir, "", args...)
		if code != 2 || !strings.Contains(errOut, "bounces.sendgrid.public_key") || !strings.Contains(errOut, "not base64") {
			t.Errorf("bantin %s: exit %d, want 2 naming bounces.sendgrid.public_key\n%s", strings.Join(args, " "), code, errOut)
		}
	}
}

// TestConfigCheckWantsBothPostmarkKeys: a Postmark webhook behind a user
// name and no password would be open; config check says so.
func TestConfigCheckWantsBothPostmarkKeys(t *testing.T) {
	dir := t.TempDir()
	writeConfig(t, dir, serveConfig(freeAddr(t), "")+"bounces:\n  postmark:\n    username: postmark\n")
	code, _, errOut := bantin(t, dir, "", "config", "check")
	if code != 2 || !strings.Contains(errOut, "bounces.postmark") || !strings.Contains(errOut, "password") {
		t.Errorf("config check: exit %d, want 2 naming bounces.postmark\n%s", code, errOut)
	}
}

// TestSendGridAndSESWebhooksThroughServe: a SendGrid batch signed with the
// key whose public half is in the config bounces its subscriber; the same
// batch with another key, or changed, is 401; an SNS message whose
// certificate is not on an SNS host is 401 before anything is fetched.
func TestSendGridAndSESWebhooksThroughServe(t *testing.T) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	other, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	der, _ := x509.MarshalPKIXPublicKey(&key.PublicKey)
	dir := t.TempDir()
	addr := freeAddr(t)
	writeConfig(t, dir, serveConfig(addr, "")+`newsletters:
  - {id: ban-tin-sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
mail:
  from: "Báo Mẫu <news@baomau.vn>"
subscribe:
  bounce_limit: 1
bounces:
  ses:
    topic_arns: ["arn:aws:sns:ap-southeast-1:123456789012:bantin"]
  sendgrid:
    public_key: `+base64.StdEncoding.EncodeToString(der)+`
`)
	mustRun(t, dir, 0, "subscribers", "add", "ban-tin-sang", "an@example.vn", "--confirmed")
	logs := startWebhookServe(t, dir, addr)
	base := "http://" + addr

	sendgrid := func(k *ecdsa.PrivateKey, body string) (int, string) {
		t.Helper()
		ts := strconv.FormatInt(time.Now().Unix(), 10)
		d := sha256.Sum256([]byte(ts + body))
		sig, err := ecdsa.SignASN1(rand.Reader, k, d[:])
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodPost, base+"/webhooks/bounces/sendgrid", strings.NewReader(body))
		req.Header.Set("X-Twilio-Email-Event-Webhook-Signature", base64.StdEncoding.EncodeToString(sig))
		req.Header.Set("X-Twilio-Email-Event-Webhook-Timestamp", ts)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	batch := `[{"email":"an@example.vn","timestamp":1764640800,"event":"bounce","type":"bounce","status":"5.1.1",
"reason":"550 5.1.1 no such user","sg_event_id":"ev-1"},{"email":"an@example.vn","event":"open","sg_event_id":"ev-2"}]`
	if status, body := sendgrid(other, batch); status != 401 {
		t.Errorf("SendGrid batch signed with another key: %d %s, want 401", status, body)
	}
	out, _ := mustRun(t, dir, 0, "subscribers", "list", "ban-tin-sang")
	if strings.Contains(out, "bounced") {
		t.Errorf("a forged batch bounced a subscriber:\n%s", out)
	}
	if status, body := sendgrid(key, batch); status != 200 || !strings.Contains(body, `"bounced": 1`) {
		t.Errorf("SendGrid batch signed: %d %s, want 200 and one bounced", status, body)
	}
	out, _ = mustRun(t, dir, 0, "subscribers", "list", "ban-tin-sang")
	if !strings.Contains(out, "bounced") {
		t.Errorf("an@example.vn is not bounced after a signed hard bounce:\n%s", out)
	}

	ses := `{"Type":"Notification","MessageId":"m-1","TopicArn":"arn:aws:sns:ap-southeast-1:123456789012:bantin",
"Message":"{}","Timestamp":"` + time.Now().UTC().Format(time.RFC3339) + `","SignatureVersion":"2","Signature":"AAAA",
"SigningCertURL":"https://` + addr + `/cert.pem"}`
	if status, body := webhookPost(t, base+"/webhooks/bounces/ses", "", "", []byte(ses)); status != 401 {
		t.Errorf("SNS message with its certificate off SNS: %d %s, want 401", status, body)
	}
	// The log comes through a pipe: it may follow the response.
	waitFor(t, 5*time.Second, "serve to log why the SNS message was refused", func() bool {
		return strings.Contains(logs.String(), "not on an SNS host")
	})
}

// TestReloadSaysBounceWebhookKeysTakeARestart: the webhooks are built at
// start, so a reload that changes their keys says they wait for a restart
// rather than leaving the admin to think the new key is in use.
func TestReloadSaysBounceWebhookKeysTakeARestart(t *testing.T) {
	running := config.Default()
	next := config.Default()
	next.Bounces.Mailgun.SigningKey = "new"
	next.Bounces.SES.TopicARNs = []string{"arn:aws:sns:us-east-1:1:t"}
	next.Bounces.Postmark.Password = "p"
	next.Bounces.SendGrid.PublicKey = "k"
	got := strings.Join(restartOnly(running, next), ", ")
	for _, want := range []string{"bounces.ses", "bounces.mailgun", "bounces.postmark", "bounces.sendgrid"} {
		if !strings.Contains(got, want) {
			t.Errorf("restartOnly = %q, lacks %s", got, want)
		}
	}
}

// TestReloadSaysNewCategoryNamesTakeARestart: a category added or renamed
// in the config shows its title after a reload, but articles are filed
// under it by its name only after a restart, and the log says so; a new
// description alone needs no restart.
func TestReloadSaysNewCategoryNamesTakeARestart(t *testing.T) {
	running := config.Default()
	running.Categories = []config.Category{{Slug: "kt", Title: "Kinh tế"}}
	described := config.Default()
	described.Categories = []config.Category{{Slug: "kt", Title: "Kinh tế", Description: "Tin kinh tế"}}
	if got := restartOnly(running, described); slices.Contains(got, "categories") {
		t.Errorf("restartOnly = %q for a new description, which a reload applies", got)
	}
	renamed := config.Default()
	renamed.Categories = []config.Category{{Slug: "kt", Title: "Kinh doanh"}}
	added := config.Default()
	added.Categories = []config.Category{{Slug: "kt", Title: "Kinh tế"}, {Slug: "dl", Title: "Du lịch"}}
	for name, next := range map[string]*config.Config{"renamed": renamed, "added": added} {
		if got := restartOnly(running, next); !slices.Contains(got, "categories") {
			t.Errorf("%s: restartOnly = %q, lacks categories", name, got)
		}
	}
}
