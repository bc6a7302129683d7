package digest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"mime/multipart"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	texttemplate "text/template"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/internal/mail/smtptest"
	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/store/sqlite"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
	"github.com/bantin/bantin/templates"
	"golang.org/x/text/unicode/norm"
)

// clock is a settable time for the service under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// links makes recognisable personal links.
type links struct{}

func (links) UnsubscribeLink(id int64, list string) (string, error) {
	return fmt.Sprintf("https://baomau.vn/unsubscribe/u%d-%s", id, list), nil
}

func (links) PreferencesLink(id int64) (string, error) {
	return fmt.Sprintf("https://baomau.vn/preferences/p%d", id), nil
}

// recorder is a transport that keeps what it is given.
type recorder struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (r *recorder) Send(_ context.Context, msgs []mail.Message) []mail.Result {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]mail.Result, len(msgs))
	for i, m := range msgs {
		if m.Raw != nil {
			m = decode(m)
		}
		r.msgs = append(r.msgs, m)
		out[i] = mail.Result{MessageID: m.MessageID, Status: mail.Sent}
	}
	return out
}

// decode reads a message made by mail.Bulk back into its fields, as a
// mail client would, so that tests look at every copy the same way.
func decode(m mail.Message) mail.Message {
	parsed, err := netmail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		panic(err)
	}
	var dec mime.WordDecoder
	m.Subject, _ = dec.DecodeHeader(parsed.Header.Get("Subject"))
	m.Headers = map[string]string{}
	for _, h := range []string{"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"} {
		m.Headers[h], _ = dec.DecodeHeader(parsed.Header.Get(h))
	}
	_, params, _ := mime.ParseMediaType(parsed.Header.Get("Content-Type"))
	mr := multipart.NewReader(parsed.Body, params["boundary"])
	for i := 0; ; i++ {
		part, err := mr.NextPart()
		if err != nil {
			break
		}
		b, _ := io.ReadAll(part)
		body := strings.ReplaceAll(string(b), "\r\n", "\n")
		if i == 0 {
			m.Text = body
		} else {
			m.HTML = body
		}
	}
	return m
}

func (r *recorder) Close() error { return nil }

func (r *recorder) sent() []mail.Message {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]mail.Message(nil), r.msgs...)
}

type fixture struct {
	store *sqlite.Store
	clock *clock
	svc   *Service
	opts  Options
}

func newsletter(t *testing.T, id, schedule, zoneName string, categories ...string) Newsletter {
	t.Helper()
	loc := zone(t, zoneName)
	sched, err := ParseSchedule(schedule, loc)
	if err != nil {
		t.Fatal(err)
	}
	return Newsletter{ID: id, Title: "Bản tin " + id, Schedule: sched, Location: loc, Categories: categories,
		MaxArticles: 20, MaxAge: 7 * 24 * time.Hour, Template: "digest",
		Subject: texttemplate.Must(texttemplate.New("s").Parse(`{{.List.Title}} — {{.Date}}`))}
}

func newFixture(t *testing.T, start time.Time, transport mail.Transport, lists ...Newsletter) *fixture {
	t.Helper()
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{store: sqlitetest.Open(t), clock: &clock{t: start}}
	f.opts = Options{
		Store: f.store, Newsletters: lists, Emails: tmpl, Transport: transport, Links: links{},
		From: netmail.Address{Name: "Báo Mẫu", Address: "bantin@baomau.vn"}, Site: "Báo Mẫu", BaseURL: "https://baomau.vn",
		Lang: "vi", Now: f.clock.Now, BounceLimit: 1, Workers: 4, Batch: 10, Lease: 30 * time.Second,
		RetryBase: time.Minute, RetryMax: 10 * time.Minute, MaxAttempts: 8, Logger: discard(),
	}
	f.svc = New(f.opts)
	return f
}

// article stores an article first seen at stored.
func (f *fixture) article(t *testing.T, id, category string, published, stored time.Time) {
	t.Helper()
	a := article.Article{ID: id, GUID: "tag:baomau.vn,2024:" + id, Title: "Bài " + id, Slug: id, Summary: "Tóm tắt " + id, ContentHTML: "<p>" + id + "</p>", InputHash: id,
		URL: "https://baomau.vn/" + id + ".html", PublishedAt: published}
	if category != "" {
		a.Categories = []article.Category{{Slug: category, Title: category}}
	}
	if _, err := f.store.SaveArticles(context.Background(), stored, []article.Article{a}); err != nil {
		t.Fatal(err)
	}
}

// subscribe adds confirmed subscribers to list.
func (f *fixture) subscribe(t *testing.T, list string, emails ...string) []int64 {
	t.Helper()
	ctx := context.Background()
	var ids []int64
	for _, e := range emails {
		sub, err := f.store.SaveSubscriber(ctx, store.Subscriber{Email: e, Name: "Bạn " + e[:strings.IndexByte(e, '@')]}, f.clock.Now())
		if err != nil {
			t.Fatal(err)
		}
		if err := f.store.SetListStatus(ctx, sub.ID, list, store.Confirmed, f.clock.Now()); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sub.ID)
	}
	return ids
}

func articleIDs(is store.Issue) string { return strings.Join(is.ArticleIDs, ",") }

// TestScheduleMakesOneIssuePerRun drives the clock through a new list's
// first run, a run with nothing new, days the daemon was down, and
// scheduled and back-dated articles.
func TestScheduleMakesOneIssuePerRun(t *testing.T) {
	ctx := context.Background()
	hcm := zone(t, "Asia/Ho_Chi_Minh")
	day := func(d, h, m int) time.Time { return time.Date(2024, 3, d, h, m, 0, 0, hcm) }
	sang := newsletter(t, "sang", "0 6 * * *", "Asia/Ho_Chi_Minh")
	sport := newsletter(t, "the-thao", "0 6 * * *", "Asia/Ho_Chi_Minh", "the-thao")
	f := newFixture(t, day(10, 5, 0), &recorder{}, sang, sport)
	tick := func(at time.Time) []Made {
		t.Helper()
		f.clock.Set(at)
		made, err := f.svc.Tick(ctx, at)
		if err != nil {
			t.Fatal(err)
		}
		return made
	}

	f.article(t, "old-news", "xa-hoi", day(9, 5, 0), day(9, 5, 0)) // before the list's first period
	f.article(t, "a1", "xa-hoi", day(10, 4, 0), day(10, 4, 0))     // in the first period
	f.article(t, "s1", "the-thao", day(10, 4, 30), day(10, 4, 30)) // sport
	f.article(t, "later", "xa-hoi", day(10, 7, 0), day(10, 4, 0))  // scheduled for after the run
	if made := tick(day(10, 5, 0)); len(made) != 0 {               // first seen: nothing due yet
		t.Fatalf("a new list made an issue before its first run: %+v", made)
	}
	made := tick(day(10, 6, 0))
	if len(made) != 2 {
		t.Fatalf("first run made %d issues, want one per list", len(made))
	}
	first, sportFirst := made[0].Issue, made[1].Issue
	if first.Number != 1 || articleIDs(first) != "s1,a1" || !first.WindowStart.Equal(day(9, 6, 0)) || !first.WindowEnd.Equal(day(10, 6, 0)) {
		t.Errorf("first issue %d: articles %q window %v–%v; want s1,a1 over one day to 06:00", first.Number, articleIDs(first), first.WindowStart, first.WindowEnd)
	}
	if articleIDs(sportFirst) != "s1" {
		t.Errorf("the sport list's issue holds %q, want only s1", articleIDs(sportFirst))
	}
	if made := tick(day(10, 6, 0).Add(time.Second)); len(made) != 0 {
		t.Errorf("a second tick of the same run made %d issues", len(made))
	}

	// Down from the 11th 05:00 to the 13th 08:00: one issue, not three.
	f.article(t, "a2", "xa-hoi", day(11, 9, 0), day(11, 9, 0))
	f.article(t, "a3", "xa-hoi", day(12, 9, 0), day(12, 9, 0))
	made = tick(day(13, 8, 0))
	if len(made) != 1 || made[0].Issue.List != "sang" {
		t.Fatalf("after missed runs: %+v; want one issue of sang (nothing new in sport)", made)
	}
	if is := made[0].Issue; articleIDs(is) != "a3,a2,later" || !is.WindowEnd.Equal(day(13, 6, 0)) || is.Number != 2 {
		t.Errorf("catch-up issue %d holds %q up to %v; want a3,a2,later up to the 13th 06:00", is.Number, articleIDs(is), is.WindowEnd)
	}
	if made := tick(day(14, 6, 0)); len(made) != 0 {
		t.Errorf("a run with no new articles made %+v", made)
	}

	// A back-dated page ingested now is news now; one from last month is
	// history (max_age).
	f.article(t, "backdated", "xa-hoi", day(12, 12, 0), day(14, 9, 0))
	f.article(t, "history", "xa-hoi", time.Date(2024, 2, 1, 9, 0, 0, 0, hcm), day(14, 9, 0))
	made = tick(day(15, 6, 0))
	if len(made) != 1 || articleIDs(made[0].Issue) != "backdated" {
		t.Errorf("issue after a back-dated ingest: %+v; want backdated only", made)
	}
	issues, err := f.store.Issues(ctx, "sang")
	if err != nil || len(issues) != 3 {
		t.Fatalf("sang has %d issues, %v; want 3", len(issues), err)
	}
	// The stored copy is the one the archive shows: no personal links.
	if strings.Contains(issues[0].HTML, "/unsubscribe/") || !strings.Contains(issues[0].HTML, "/subscribe?list=sang") {
		t.Errorf("the archived copy has personal links or lacks the sign-up link")
	}
}

// TestScheduleAcrossDaylightSaving: a list at 02:30 in New York sends once
// on the day without 02:30 and once on the day with two.
func TestScheduleAcrossDaylightSaving(t *testing.T) {
	ctx := context.Background()
	ny := zone(t, "America/New_York")
	// issuesAt ticks every 10 minutes from from to until, an article
	// before each tick, and returns when the issues were made.
	issuesAt := func(schedule string, from, until time.Time) string {
		f := newFixture(t, from, &recorder{}, newsletter(t, "night", schedule, "America/New_York"))
		if _, err := f.svc.Tick(ctx, from); err != nil {
			t.Fatal(err)
		}
		var ends []string
		for at := from; at.Before(until); at = at.Add(10 * time.Minute) {
			f.article(t, fmt.Sprintf("a%d", at.Unix()), "", at, at)
			made, err := f.svc.Tick(ctx, at)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range made {
				ends = append(ends, m.Issue.WindowEnd.In(ny).Format("01-02 15:04 MST"))
			}
		}
		return strings.Join(ends, ",")
	}
	if got, want := issuesAt("30 2 * * *", time.Date(2024, 3, 9, 0, 0, 0, 0, ny), time.Date(2024, 3, 12, 0, 0, 0, 0, ny)),
		"03-09 02:30 EST,03-10 03:00 EDT,03-11 02:30 EDT"; got != want {
		t.Errorf("issues at %s; want %s", got, want)
	}
	ends := issuesAt("30 1 * * *", time.Date(2024, 11, 2, 0, 0, 0, 0, ny), time.Date(2024, 11, 4, 0, 0, 0, 0, ny))
	if got, want := ends, "11-02 01:30 EDT,11-03 01:30 EDT"; got != want {
		t.Errorf("fall-back issues at %s; want %s (01:30 happens twice on 11-03, one issue)", got, want)
	}
}

// TestDeliveryNarrowsAndStops: category preferences narrow a copy (or
// skip it), an unsubscribe before a subscriber's turn stops their copy,
// and each copy carries its reader's links and a stable Message-ID.
func TestDeliveryNarrowsAndStops(t *testing.T) {
	ctx := context.Background()
	hcm := zone(t, "Asia/Ho_Chi_Minh")
	now := time.Date(2024, 3, 28, 6, 0, 0, 0, hcm)
	rec := &recorder{}
	f := newFixture(t, now, rec, newsletter(t, "sang", "0 6 * * *", "Asia/Ho_Chi_Minh"))
	f.article(t, "kinh-te-1", "kinh-te", now.Add(-3*time.Hour), now.Add(-3*time.Hour))
	f.article(t, "the-thao-1", "the-thao", now.Add(-2*time.Hour), now.Add(-2*time.Hour))
	ids := f.subscribe(t, "sang", "all@example.vn", "sport@example.vn", "culture@example.vn", "leaver@example.vn")
	if err := f.store.SetCategories(ctx, ids[1], []string{"the-thao"}); err != nil {
		t.Fatal(err)
	}
	if err := f.store.SetCategories(ctx, ids[2], []string{"van-hoa"}); err != nil {
		t.Fatal(err)
	}
	made, err := f.svc.SendNow(ctx, "sang")
	if err != nil || made.Deliveries != 4 {
		t.Fatalf("SendNow: %+v, %v", made, err)
	}
	if err := f.store.SetListStatus(ctx, ids[3], "sang", store.Unsubscribed, now); err != nil {
		t.Fatal(err)
	}
	report, err := f.svc.DeliverDue(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if report.Sent != 2 || report.Skipped != 1 {
		t.Errorf("report %+v; want 2 sent, 1 skipped (no articles in their categories)", report)
	}
	sent := rec.sent()
	byTo := map[string]mail.Message{}
	for _, m := range sent {
		byTo[m.To.Address] = m
	}
	if len(sent) != 2 || byTo["all@example.vn"].Text == "" || byTo["sport@example.vn"].Text == "" {
		t.Fatalf("sent to %v; want all@ and sport@ only", byTo)
	}
	if all := byTo["all@example.vn"]; !strings.Contains(all.Text, "Bài kinh-te-1") || !strings.Contains(all.Text, "Bài the-thao-1") {
		t.Errorf("the copy without preferences lacks an article:\n%s", all.Text)
	}
	sport := byTo["sport@example.vn"]
	if strings.Contains(sport.Text, "kinh-te-1") || !strings.Contains(sport.Text, "Bài the-thao-1") {
		t.Errorf("the sport reader's copy is not narrowed:\n%s", sport.Text)
	}
	wantUnsub := fmt.Sprintf("https://baomau.vn/unsubscribe/u%d-sang", ids[1])
	if sport.Headers["List-Unsubscribe"] != "<"+wantUnsub+">" || !strings.Contains(sport.HTML, wantUnsub) || !strings.Contains(sport.Text, fmt.Sprintf("/preferences/p%d", ids[1])) {
		t.Errorf("the sport reader's copy lacks their own links: %v", sport.Headers)
	}
	if want := fmt.Sprintf("sang.1.%d@baomau.vn", ids[1]); sport.MessageID != want {
		t.Errorf("Message-ID %q, want %q", sport.MessageID, want)
	}
	is, _ := f.store.LastIssue(ctx, "sang")
	counts, _ := f.store.DeliveryCounts(ctx, is.ID)
	if is.Status != "sent" || counts[store.DeliverySent] != 2 || counts[store.DeliverySkipped] != 2 {
		t.Errorf("issue %s with %v; want sent, 2 sent and 2 skipped", is.Status, counts)
	}
	// Nothing new: no second issue, no email.
	if made, err := f.svc.SendNow(ctx, "sang"); err != nil || made.Issue.ID != 0 || made.Reason == "" {
		t.Errorf("SendNow with nothing new: %+v, %v", made, err)
	}
}

// TestCancelDropsUnsent: a cancelled issue sends nothing more.
func TestCancelDropsUnsent(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2024, 3, 28, 6, 0, 0, 0, time.UTC)
	rec := &recorder{}
	f := newFixture(t, now, rec, newsletter(t, "sang", "0 6 * * *", "UTC"))
	f.article(t, "a1", "", now.Add(-time.Hour), now.Add(-time.Hour))
	f.subscribe(t, "sang", "a@example.vn", "b@example.vn")
	if _, err := f.svc.SendNow(ctx, "sang"); err != nil {
		t.Fatal(err)
	}
	is, dropped, err := f.svc.Cancel(ctx, "sang")
	if err != nil || dropped != 2 || is.Number != 1 {
		t.Fatalf("Cancel = %+v, %d, %v", is, dropped, err)
	}
	if r, err := f.svc.DeliverDue(ctx, nil); err != nil || r.Sent != 0 || len(rec.sent()) != 0 {
		t.Errorf("after cancel: %+v, %v, %d sent", r, err, len(rec.sent()))
	}
	if _, _, err := f.svc.Cancel(ctx, "nope"); err == nil || !strings.Contains(err.Error(), "configured: sang") {
		t.Errorf("cancel of an unknown list: %v", err)
	}
}

// TestDeliveryThroughFaultySMTP sends an issue to 300 subscribers through a
// real SMTP server that answers 5% of RCPTs with 451, drops some
// connections in DATA and some after accepting, is slow, and refuses two
// addresses for good. Every other subscriber ends with exactly one
// accepted copy, except those whose acceptance was lost on the wire.
func TestDeliveryThroughFaultySMTP(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	tries := map[string]int{}
	lostAfterData := 0
	srv := smtptest.Start(t, smtptest.Options{Delay: time.Millisecond, Policy: func(rcpt string, seq int) smtptest.Fault {
		mu.Lock()
		defer mu.Unlock()
		tries[rcpt]++
		switch {
		case strings.HasPrefix(rcpt, "gone"):
			return smtptest.PermRcpt
		case seq%20 == 0:
			return smtptest.TempRcpt
		case seq%37 == 0:
			return smtptest.DropInData
		case seq%53 == 0 && tries[rcpt] == 1:
			lostAfterData++
			return smtptest.DropAfterData
		}
		return smtptest.Accept
	}})
	transport, err := mail.NewSMTPTransport(mail.SMTPOptions{Host: "127.0.0.1", Port: srv.Port, TLS: "none", Connections: 4, GreetingTimeout: 5 * time.Second, CommandTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { transport.Close() })
	now := time.Date(2024, 3, 28, 6, 0, 0, 0, time.UTC)
	f := newFixture(t, now, transport, newsletter(t, "sang", "0 6 * * *", "UTC"))
	f.article(t, "a1", "", now.Add(-time.Hour), now.Add(-time.Hour))
	var emails []string
	for i := range 300 {
		emails = append(emails, fmt.Sprintf("doc-gia-%03d@example.vn", i))
	}
	emails = append(emails, "gone-1@example.vn", "gone-2@example.vn")
	f.subscribe(t, "sang", emails...)
	if _, err := f.svc.SendNow(ctx, "sang"); err != nil {
		t.Fatal(err)
	}
	var total Report
	for round := 0; round < 20; round++ {
		r, err := f.svc.DeliverDue(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		total.add(r)
		if sending, _ := f.store.SendingIssues(ctx); len(sending) == 0 {
			break
		}
		f.clock.Add(15 * time.Minute) // retries come due
	}
	if sending, _ := f.store.SendingIssues(ctx); len(sending) != 0 {
		t.Fatalf("the issue is still being sent after 20 rounds: %+v", total)
	}
	counts := srv.Counts()
	dups := 0
	for _, e := range emails[:300] {
		switch n := counts[e]; {
		case n == 0:
			t.Errorf("%s got nothing", e)
		case n > 1:
			dups += n - 1
		}
	}
	if dups > lostAfterData {
		t.Errorf("%d duplicates; at most %d acceptances were lost on the wire", dups, lostAfterData)
	}
	if counts["gone-1@example.vn"]+counts["gone-2@example.vn"] != 0 || total.Failed != 2 {
		t.Errorf("refused addresses: %d accepted, %d failed; want 0 and 2", counts["gone-1@example.vn"]+counts["gone-2@example.vn"], total.Failed)
	}
	gone, _ := f.store.SubscriberByEmail(ctx, "gone-1@example.vn")
	if !gone.Bounced {
		t.Errorf("a subscriber refused with 550 is not bounced (bounce limit 1): %+v", gone)
	}
	if total.Retry == 0 || lostAfterData == 0 {
		t.Errorf("the faults did not happen: %+v retries, %d lost after DATA", total, lostAfterData)
	}
	t.Logf("report %+v; %d duplicates from %d acceptances lost on the wire", total, dups, lostAfterData)

	// One accepted copy, parsed as a mail client does.
	var msg smtptest.Message
	for _, m := range srv.Messages() {
		if m.To == "doc-gia-007@example.vn" {
			msg = m
		}
	}
	parsed, err := netmail.ReadMessage(bytes.NewReader(msg.Data))
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range []string{"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post", "Message-Id", "Date"} {
		if parsed.Header.Get(h) == "" {
			t.Errorf("the accepted copy lacks %s", h)
		}
	}
	if !strings.HasPrefix(parsed.Header.Get("Message-Id"), "<sang.1.") {
		t.Errorf("Message-ID %q", parsed.Header.Get("Message-Id"))
	}
	body, _ := io.ReadAll(parsed.Body)
	if !bytes.Contains(body, []byte("unsubscribe/u")) {
		t.Error("the accepted copy has no unsubscribe link in its body")
	}
}

func discard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// slowTransport takes its time over every message.
type slowTransport struct {
	recorder
	delay time.Duration
}

func (s *slowTransport) Send(ctx context.Context, msgs []mail.Message) []mail.Result {
	time.Sleep(s.delay)
	return s.recorder.Send(ctx, msgs)
}

// TestClaimsRenewedWhileSending: a batch that takes longer than the lease
// keeps its claims, so a second sender on the same store (another
// process) finds nothing to take; a stop gives the rest of the batch back.
func TestClaimsRenewedWhileSending(t *testing.T) {
	ctx := context.Background()
	slow := &slowTransport{delay: 400 * time.Millisecond}
	now := time.Now()
	f := newFixture(t, now, slow, newsletter(t, "sang", "0 6 * * *", "UTC"))
	f.article(t, "a1", "", now.Add(-time.Hour), now.Add(-time.Hour))
	f.subscribe(t, "sang", "a@example.vn", "b@example.vn", "c@example.vn", "d@example.vn")
	opts := f.opts
	opts.Now, opts.Lease, opts.Workers, opts.Batch = time.Now, 300*time.Millisecond, 1, 4
	first := New(opts)
	if _, err := first.SendNow(ctx, "sang"); err != nil {
		t.Fatal(err)
	}
	is, _ := f.store.LastIssue(ctx, "sang")
	stopCtx, stop := context.WithCancel(ctx)
	done := make(chan Report)
	go func() {
		r, _ := first.DeliverIssue(stopCtx, is, nil)
		done <- r
	}()
	time.Sleep(1000 * time.Millisecond) // three leases: the claims live on only if renewed
	other := &recorder{}
	opts2 := opts
	opts2.Transport = other
	if r, err := New(opts2).DeliverIssue(ctx, is, nil); err != nil || r.Sent != 0 {
		t.Errorf("a second sender took %+v (%v) from a batch still being sent", r, err)
	}
	stop() // the third message is in flight: it finishes; the fourth is given back
	r := <-done
	if r.Sent != 3 {
		t.Errorf("the stopped sender sent %d, want 3 (two before the stop, one in flight)", r.Sent)
	}
	counts, _ := f.store.DeliveryCounts(ctx, is.ID)
	if counts[store.DeliveryQueued] != 1 {
		t.Errorf("counts %v; want the unsent one queued again", counts)
	}
	if r, err := New(opts2).DeliverIssue(ctx, is, nil); err != nil || r.Sent != 1 || len(other.sent()) != 1 {
		t.Errorf("after the stop, another sender sent %+v (%v); want the one given back", r, err)
	}
}

// TestBulkCopiesAreRenderedCopies: a copy made by substitution reads, in
// a mail client, exactly as the copy rendered in full for the same
// reader, whatever their name and address hold; and a template that shows
// a name where substitution would be wrong makes every copy in full.
func TestBulkCopiesAreRenderedCopies(t *testing.T) {
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "email"), 0o755); err != nil {
		t.Fatal(err)
	}
	// A name in a URL query is escaped for URLs, not for HTML.
	custom := `<p><a href="https://baomau.vn/hello?name={{.Name}}">{{.Name}}</a> {{range .Articles}}{{.Title}}{{end}} <a href="{{.UnsubscribeURL}}">x</a></p>`
	for name, text := range map[string]string{"query.html": custom, "query.txt": "{{.Name}} {{.UnsubscribeURL}}\n"} {
		if err := os.WriteFile(filepath.Join(dir, "email", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	withCustom, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name     string
		emails   Emails
		template string
		bulk     bool
	}{{"built-in", tmpl, "digest", true}, {"name in a URL", withCustom, "query", false}} {
		t.Run(c.name, func(t *testing.T) {
			is := testIssue(t, "vi")
			is.TemplateID = c.template
			s := New(Options{Emails: c.emails, BaseURL: "https://baomau.vn", From: netmail.Address{Name: "Báo Mẫu", Address: "bantin@baomau.vn"}, Logger: discard()})
			var cache variants
			for _, to := range []Recipient{
				{Email: "nu+tin@example.vn", Name: `Nguyễn "Nữ" & Co <b>+1</b>`, UnsubscribeURL: "https://baomau.vn/unsubscribe/AB-c_d", PreferencesURL: "https://baomau.vn/preferences/EF-g_h"},
				{Email: "an@example.vn", UnsubscribeURL: "https://baomau.vn/unsubscribe/XY", PreferencesURL: "https://baomau.vn/preferences/ZW"},
			} {
				v := s.variant(&cache, is, to.Name != "")
				// Without a name, there is nothing to escape wrongly.
				if wantBulk := c.bulk || to.Name == ""; (v.bulk != nil) != wantBulk {
					t.Fatalf("bulk = %v for name %q, want %v", v.bulk != nil, to.Name, wantBulk)
				}
				date := time.Date(2024, 3, 28, 6, 0, 0, 0, time.UTC)
				got, err := s.copyOf(v, to, "sang.7.1@baomau.vn", date)
				if err != nil {
					t.Fatal(err)
				}
				if got.Raw != nil {
					got = decode(got)
				}
				want, err := s.message(is, to, "sang.7.1@baomau.vn")
				if err != nil {
					t.Fatal(err)
				}
				if got.Subject != want.Subject || got.Text != want.Text || got.HTML != norm.NFC.String(want.HTML) {
					t.Errorf("copy for %q differs from the rendered one:\n%s\n---\n%s", to.Name, got.HTML, want.HTML)
				}
				for k, v := range want.Headers {
					if got.Headers[k] != v {
						t.Errorf("%s = %q, want %q", k, got.Headers[k], v)
					}
				}
			}
		})
	}
}

// TestCancelStopsSendsInFlight: a cancel reaches a sender in the middle of
// its batch at its next renewal; the rest of the batch is not sent and
// nothing stays queued.
func TestCancelStopsSendsInFlight(t *testing.T) {
	ctx := context.Background()
	slow := &slowTransport{delay: 150 * time.Millisecond}
	now := time.Now()
	f := newFixture(t, now, slow, newsletter(t, "sang", "0 6 * * *", "UTC"))
	f.article(t, "a1", "", now.Add(-time.Hour), now.Add(-time.Hour))
	var emails []string
	for i := range 12 {
		emails = append(emails, fmt.Sprintf("s%d@example.vn", i))
	}
	f.subscribe(t, "sang", emails...)
	opts := f.opts
	opts.Now, opts.Lease, opts.Workers, opts.Batch = time.Now, 300*time.Millisecond, 1, 12
	svc := New(opts)
	if _, err := svc.SendNow(ctx, "sang"); err != nil {
		t.Fatal(err)
	}
	is, _ := f.store.LastIssue(ctx, "sang")
	done := make(chan Report)
	go func() {
		r, _ := svc.DeliverIssue(ctx, is, nil)
		done <- r
	}()
	time.Sleep(400 * time.Millisecond)
	if _, _, err := svc.Cancel(ctx, "sang"); err != nil {
		t.Fatal(err)
	}
	r := <-done
	sent := len(slow.sent())
	if sent > 6 || sent == 0 {
		t.Errorf("%d copies went out; want a few before the cancel and none long after", sent)
	}
	counts, _ := f.store.DeliveryCounts(ctx, is.ID)
	if counts[store.DeliveryQueued] != 0 || counts[store.DeliverySent] != sent || counts[store.DeliverySkipped] != 12-sent {
		t.Errorf("counts %v after %d sent (report %+v); want the rest skipped, none queued", counts, sent, r)
	}
}

// downTransport is a relay that cannot be reached.
type downTransport struct{ calls int }

func (d *downTransport) Send(_ context.Context, msgs []mail.Message) []mail.Result {
	d.calls++
	out := make([]mail.Result, len(msgs))
	for i := range out {
		out[i] = mail.Result{Status: mail.Temporary, Err: fmt.Errorf("dial: connection refused")}
	}
	return out
}

func (d *downTransport) Close() error { return nil }

// TestRelayDownWaitsOnce: when the relay cannot be reached, a batch does
// not try every copy in turn; all of it waits for the retry.
func TestRelayDownWaitsOnce(t *testing.T) {
	ctx := context.Background()
	down := &downTransport{}
	now := time.Date(2024, 3, 28, 6, 0, 0, 0, time.UTC)
	f := newFixture(t, now, down, newsletter(t, "sang", "0 6 * * *", "UTC"))
	f.article(t, "a1", "", now.Add(-time.Hour), now.Add(-time.Hour))
	f.subscribe(t, "sang", "a@example.vn", "b@example.vn", "c@example.vn")
	opts := f.opts
	opts.Workers, opts.Batch = 1, 10
	svc := New(opts)
	if _, err := svc.SendNow(ctx, "sang"); err != nil {
		t.Fatal(err)
	}
	r, err := svc.DeliverDue(ctx, nil)
	if err != nil || r.Retry != 3 || down.calls != 1 {
		t.Errorf("report %+v (%v) after %d tries; want 3 to retry after one try", r, err, down.calls)
	}
	is, _ := f.store.LastIssue(ctx, "sang")
	if counts, _ := f.store.DeliveryCounts(ctx, is.ID); counts[store.DeliveryQueued] != 3 {
		t.Errorf("counts %v; want 3 queued", counts)
	}
	if got, _ := f.store.ClaimDeliveries(ctx, is.ID, now.Add(30*time.Second), 10, time.Minute); len(got) != 0 {
		t.Errorf("%d deliveries due again at once; want them to wait", len(got))
	}
}

// TestOneSchedulerAmongProcesses: of processes sharing a store, only the
// holder of the scheduler lease makes issues; when it dies without a word,
// another takes over once the lease runs out.
func TestOneSchedulerAmongProcesses(t *testing.T) {
	ctx := context.Background()
	now := time.Now()
	n := newsletter(t, "sang", "0 6 * * *", "UTC")
	f := newFixture(t, now, &recorder{}, n)
	// An article an hour before the last run: in that run's issue, far
	// from any run boundary the test could cross.
	run := n.Schedule.Previous(now)
	f.article(t, "a1", "", run.Add(-time.Hour), run.Add(-time.Hour))
	// A process that held the lease and was killed.
	if ok, err := f.store.AcquireLease(ctx, schedulerLease, "dead", time.Now(), 600*time.Millisecond); err != nil || !ok {
		t.Fatal(ok, err)
	}
	opts := f.opts
	opts.Now, opts.Poll, opts.LeaderTTL, opts.Holder = time.Now, 50*time.Millisecond, 600*time.Millisecond, "b"
	// The list was first seen two days ago: its last run is due.
	if _, err := f.store.ListStart(ctx, "sang", run.Add(-48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { New(opts).runSchedule(runCtx); close(done) }()
	time.Sleep(300 * time.Millisecond)
	if _, err := f.store.LastIssue(ctx, "sang"); err == nil {
		t.Error("an issue was made while another process held the scheduler lease")
	}
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := f.store.LastIssue(ctx, "sang"); err == nil {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := f.store.LastIssue(ctx, "sang"); err != nil {
		t.Fatalf("no issue after the dead leader's lease ran out: %v", err)
	}
	if ok, _ := f.store.AcquireLease(ctx, schedulerLease, "c", time.Now(), time.Second); ok {
		t.Error("a third process took the lease from a live leader")
	}
	stop()
	<-done
	// A leader that stops gives the lease up at once.
	if ok, err := f.store.AcquireLease(ctx, schedulerLease, "c", time.Now(), time.Second); err != nil || !ok {
		t.Errorf("the lease was not given up at stop: %v, %v", ok, err)
	}
}
