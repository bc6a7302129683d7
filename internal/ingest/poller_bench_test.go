package ingest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
)

// benchFeeds are n RSS documents of entries each, seed-sized entries
// (about 2.5 KB of HTML).
func benchFeeds(n, entries int) map[string][]byte {
	para := strings.Repeat("Ngày 19/3, đoàn cán bộ đã có buổi khảo sát và làm việc với bà con trong xã. ", 6)
	out := make(map[string][]byte, n)
	for s := range n {
		var b strings.Builder
		fmt.Fprintf(&b, `<?xml version="1.0" encoding="UTF-8"?><rss version="2.0" xmlns:content="http://purl.org/rss/1.0/modules/content/"><channel><title>Nguồn %d</title><link>https://nguon%d.example/</link><description>d</description>`, s, s)
		for e := range entries {
			fmt.Fprintf(&b, `<item><title>Tin %d của nguồn %d</title><link>https://nguon%d.example/tin/%d</link><guid>n%d-%d</guid><pubDate>Thu, 28 Mar 2024 08:%02d:00 +0700</pubDate><description>Tóm tắt tin %d.</description><content:encoded><![CDATA[<p>%s</p><p>%s</p><p><a href="/lien-quan/%d">Liên quan</a></p>]]></content:encoded><category>Thời sự</category></item>`,
				e, s, s, e, s, e, e%60, e, para, para, e)
		}
		b.WriteString(`</channel></rss>`)
		out[fmt.Sprintf("/feed/%d", s)] = []byte(b.String())
	}
	return out
}

// pollAll polls every source once, 8 at a time as Run does.
func pollAll(b *testing.B, p *Poller) {
	sem := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for _, src := range p.Sources() {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			res, err := p.PollNow(context.Background(), src.Name)
			if err != nil || res.Err != nil {
				b.Errorf("%s: %v %v", src.Name, err, res.Err)
			}
		})
	}
	wg.Wait()
}

// BenchmarkPoll200Sources: 200 sources of 50 entries on one loopback
// server, polled once into a new SQLite store (first), and polled again
// when every feed answers 304 (not-modified).
func BenchmarkPoll200Sources(b *testing.B) {
	feeds := benchFeeds(200, 50)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body := feeds[r.URL.Path]
		etag := `"` + r.URL.Path + `"`
		if r.Header.Get("If-None-Match") == etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		w.Header().Set("ETag", etag)
		w.Header().Set("Content-Type", "application/rss+xml")
		_, _ = w.Write(body)
	}))
	defer srv.Close()
	var sources []Source
	for s := range 200 {
		sources = append(sources, Source{Name: fmt.Sprintf("nguon-%d", s), URL: fmt.Sprintf("%s/feed/%d", srv.URL, s), Interval: time.Hour, Enabled: true})
	}
	newPoller := func(b *testing.B) *Poller {
		st := sqlitetest.Open(b)
		n, err := newBenchNormalizer()
		if err != nil {
			b.Fatal(err)
		}
		return NewPoller(PollerOptions{Sources: sources, Store: st, Logger: quietLogger(), Location: hcm,
			Importer: NewImporter(ImporterOptions{Normalizer: n, Store: st, Location: hcm})})
	}
	b.Run("first", func(b *testing.B) {
		for b.Loop() {
			b.StopTimer()
			p := newPoller(b)
			b.StartTimer()
			pollAll(b, p)
		}
		b.ReportMetric(float64(200*50*b.N)/b.Elapsed().Seconds(), "entries/s")
	})
	b.Run("not-modified", func(b *testing.B) {
		p := newPoller(b)
		pollAll(b, p)
		for b.Loop() {
			pollAll(b, p)
		}
	})
}

func newBenchNormalizer() (*article.Normalizer, error) {
	return article.NewNormalizer(article.NormalizerOptions{BaseURL: "https://baomau.vn", Location: hcm, ParseTime: ParseDate})
}
