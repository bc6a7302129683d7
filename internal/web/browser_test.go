package web_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/store"
	"github.com/chromedp/chromedp"
)

// browser starts headless Chromium for a test, or skips it with the
// reason; under BANTIN_TEST_ALL=1 (CI) a missing browser fails instead.
func browser(t *testing.T) *tab {
	t.Helper()
	path := ""
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("BANTIN_TEST_ALL") == "1" {
			t.Fatal("no Chromium (apt-get install chromium); BANTIN_TEST_ALL=1 makes that a failure")
		}
		t.Skip("no Chromium (apt-get install chromium)")
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(412, 900), // a phone
	)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(alloc)
	ctx, cancelTimeout := context.WithTimeout(ctx, 60*time.Second)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	b := &tab{t: t, ctx: ctx}
	// Headless Chromium keeps its window at least 500 px wide whatever
	// WindowSize asks; the viewport of a phone has to be emulated.
	b.run("take a 412 px screen", chromedp.EmulateViewport(412, 900))
	return b
}

// tab is a browser tab driven by a test; every step fails the test on error.
type tab struct {
	t   *testing.T
	ctx context.Context
}

func (b *tab) run(what string, a chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, a); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (b *tab) text(sel string) string {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return v
}

func (b *tab) eval(js string) int {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[int](js))
	if err != nil {
		b.t.Fatalf("%s: %v", js, err)
	}
	return v
}

// waitHeading waits for the page a click led to: the one whose heading
// says want.
func (b *tab) waitHeading(want string) {
	b.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		h, err := chromedp.Run(b.ctx, chromedp.Text(chromedp.CSS("h1")))
		if err == nil && strings.Contains(h, want) {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("heading %q, want %q", h, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestPagesInBrowser opens the home page and an article page in headless
// Chromium as a reader on a phone would: the article is linked from the
// home page, the page shows its title, date and body, nothing overflows
// the screen sideways, and the feeds are discoverable.
func TestPagesInBrowser(t *testing.T) {
	f := newFeedFixture(t, 50)
	b := browser(t)
	f.post(t, `{"id":"b1","title":"Thành phố khánh thành cầu mới <script>alert(1)</script>","categories":["Thời sự"],
		"published_at":"2024-11-04T08:30:00+07:00","author":"Quốc Bảo",
		"content_html":"<p>(Baomau.vn) - Sáng 4/11, thành phố khánh thành cây cầu mới.</p><p onclick=\"alert(2)\">Công trình dài 200 m.</p>",
		"image":{"url":"https://baomau.vn/anh/cau.jpg","caption":"Cây cầu mới"}}`)

	b.run("open the home page", chromedp.Navigate(f.url+"/"))
	homeTitle := b.text("ul.latest li h2 a")
	link, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS("ul.latest li h2 a"), "href"))
	if err != nil {
		t.Fatal(err)
	}
	// A title is plain text: what looks like a tag in it is shown as
	// written, never run (the alert check below).
	if want := "Thành phố khánh thành cầu mới <script>alert(1)</script>"; homeTitle != want {
		t.Errorf("home page headline %q, want %q", homeTitle, want)
	}
	if n := b.eval(`document.querySelectorAll('link[rel=alternate]').length`); n != 6 { // RSS, Atom, JSON Feed for the site and Thời sự
		t.Errorf("%d autodiscovery links, want 6", n)
	}

	b.run("open the article", chromedp.Navigate(f.url+link.Value))
	b.eval(`window.alert = () => { window.__alerted = 1 }; 0`)
	h1, meta, body, author := b.text("h1"), b.text("p.meta"), b.text("div.content"), b.text("p.author")
	b.run("click a paragraph that had an onclick", chromedp.Click(chromedp.CSS("div.content p:nth-child(2)")))
	if want := "Thành phố khánh thành cầu mới <script>alert(1)</script>"; h1 != want {
		t.Errorf("h1 %q, want %q", h1, want)
	}
	if !strings.Contains(meta, "Thứ Hai, ngày 4 tháng 11 năm 2024, 08:30") {
		t.Errorf("date line %q; want the Vietnamese date", meta)
	}
	if !strings.Contains(body, "Công trình dài 200 m.") || author != "Quốc Bảo" {
		t.Errorf("body %q, author %q", body, author)
	}
	if b.eval(`window.__alerted || 0`) != 0 {
		t.Error("a script from the article ran in the page")
	}
	if w, iw := b.eval(`document.documentElement.scrollWidth`), b.eval(`window.innerWidth`); iw != 412 || w > iw {
		t.Errorf("the page is %d px wide on a %d px screen; want at most 412 on 412", w, iw)
	}
	if path := os.Getenv("BANTIN_SCREENSHOT"); path != "" {
		if png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(90)); err == nil {
			_ = os.WriteFile(path, png, 0o644)
		}
	}
}

// TestSignupInBrowser is the sign-up as a reader does it in Chromium:
// fill the form, send it, open the link of the confirmation email, see the
// confirmation, then unsubscribe with the button of a digest's link.
func TestSignupInBrowser(t *testing.T) {
	f := newSignupFixture(t, 0)
	b := browser(t)

	b.run("open the form", chromedp.Navigate(f.url+"/subscribe"))
	b.run("type the address", chromedp.SendKeys(chromedp.CSS("#email"), "nu@example.vn"))
	b.run("type the name", chromedp.SendKeys(chromedp.CSS("#name"), "Ngọc Nữ"))
	b.run("tick Bản tin sáng", chromedp.Click(chromedp.CSS(`input[value="sang"]`)))
	b.run("send", chromedp.Click(chromedp.CSS(`button[type="submit"]`)))
	b.waitHeading("kiểm tra email")

	f.send(t)
	mails := f.emails(t)
	if len(mails) != 1 {
		t.Fatalf("%d emails", len(mails))
	}
	link := confirmRe.FindString(mails[0])
	// Opening the link shows a button (mail scanners open links too); the
	// button confirms.
	b.run("open the confirmation link", chromedp.Navigate(f.url+link))
	if h := b.text("h1"); !strings.Contains(h, "Xác nhận đăng ký") {
		t.Errorf("confirmation page before the button: %q", h)
	}
	b.run("press the button", chromedp.Click(chromedp.CSS(`form.box button[type="submit"]`)))
	b.waitHeading("Đã xác nhận")
	if li := b.text("main ul li"); li != "Bản tin sáng" {
		t.Errorf("confirmation page lists %q", li)
	}

	sub, _ := f.store.SubscriberByEmail(context.Background(), "nu@example.vn")
	unsub, _ := f.subs.UnsubscribeLink(sub.ID, "sang")
	b.run("open the unsubscribe link", chromedp.Navigate(unsub))
	if p := b.text("main p"); !strings.Contains(p, "Bản tin sáng") || !strings.Contains(p, "nu@example.vn") {
		t.Errorf("unsubscribe page says %q", p)
	}
	b.run("press the button", chromedp.Click(chromedp.CSS(`form.box button[type="submit"]`)))
	b.waitHeading("Đã hủy đăng ký")
	if s, _ := f.store.Subscriber(context.Background(), sub.ID); s.Lists["sang"] != store.Unsubscribed {
		t.Errorf("subscription after the button: %v", s.Lists)
	}
}
