package web_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/bantin/bantin/internal/store"
)

// TestArchiveInBrowser opens a newsletter's archive in headless Chromium
// as a reader on a phone would: the page is headed by the list's title and
// links the sent issue, which opens on the issue's own HTML as it was
// mailed; no script in that HTML runs (the issue page's CSP), and the
// archive fits the screen without scrolling sideways.
func TestArchiveInBrowser(t *testing.T) {
	f := newNewsletterFixture(t, "vi", nil)
	b := browser(t)
	const subject = "Số một: Thành phố khánh thành cây cầu mới dài 200 m bắc qua sông"
	end := day(20)
	is, _, err := f.store.CreateIssue(context.Background(), store.Issue{List: "sang", WindowStart: end.AddDate(0, 0, -1), WindowEnd: end,
		Subject: subject, Text: subject, CreatedAt: end.Add(time.Minute),
		HTML: `<!doctype html>
<html lang="vi">
<head><meta charset="utf-8"><title>Bản tin sáng số 1</title>
<script>document.title = "script ran"; window.__ran = 1</script></head>
<body style="margin:0;background:#f5f5f5;" onload="window.__ran = 2">
<table role="presentation"><tr><td style="padding:16px;">
<h1>Bản tin sáng 20/12</h1>
<p class="lead">Sáng 4/11, thành phố khánh thành cây cầu mới.</p>
<img src="/nope.png" alt="" onerror="window.__ran = 3">
<script>window.__ran = 4; document.body.insertAdjacentHTML("beforeend", "<p id=injected>injected</p>")</script>
</td></tr></table>
</body>
</html>
`})
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := f.store.FinishIssue(context.Background(), is.ID, end.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("finish issue: %v %v", ok, err)
	}

	// Headless Chromium keeps its window at least 500 px wide, whatever
	// the window size asked; the viewport is set to the phone's instead.
	b.run("open the archive", chromedp.Navigate(f.srv.URL+"/newsletters/sang/"))
	if h := b.text("h1"); h != "Bản tin sáng" {
		t.Errorf("archive heading %q, want the list's title", h)
	}
	if s := b.text("ul.issues li h2 a"); s != subject {
		t.Errorf("archive lists %q, want %q", s, subject)
	}
	if meta := b.text("ul.issues li p.meta"); !strings.Contains(meta, "Số 1 · Thứ Sáu, ngày 20 tháng 12 năm 2024") {
		t.Errorf("issue line %q", meta)
	}
	link, err := chromedp.Run(b.ctx, chromedp.AttributeValue(chromedp.CSS("ul.issues li h2 a"), "href"))
	if err != nil {
		t.Fatal(err)
	}
	if link.Value != "/newsletters/sang/1" {
		t.Errorf("issue link %q", link.Value)
	}
	if w, iw := b.eval(`document.documentElement.scrollWidth`), b.eval(`window.innerWidth`); iw != 412 || w > iw {
		t.Errorf("the archive is %d px wide on a %d px screen", w, iw)
	}

	b.run("click the issue", chromedp.Click(chromedp.CSS("ul.issues li h2 a")))
	b.waitHeading("Bản tin sáng 20/12")
	if loc, err := chromedp.Run(b.ctx, chromedp.Location()); err != nil || loc != f.srv.URL+"/newsletters/sang/1" {
		t.Errorf("the click led to %q (%v)", loc, err)
	}
	if p := b.text("p.lead"); p != "Sáng 4/11, thành phố khánh thành cây cầu mới." {
		t.Errorf("issue text %q", p)
	}
	if title, err := chromedp.Run(b.ctx, chromedp.Title()); err != nil || title != "Bản tin sáng số 1" {
		t.Errorf("issue page title %q (%v); a script of the issue changed it", title, err)
	}
	if n := b.eval(`window.__ran || 0`); n != 0 {
		t.Errorf("script %d of the issue's HTML ran in the page", n)
	}
	if n := b.eval(`document.querySelectorAll('#injected').length`); n != 0 {
		t.Error("a script of the issue's HTML wrote into the page")
	}
}
