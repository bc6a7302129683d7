package metrics

import (
	"context"
	"io"
	"log/slog"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

type gauges struct{}

func (gauges) QueueDepth(context.Context) (int, error) { return 7, nil }
func (gauges) SubscriberCounts(context.Context) (map[string]int, error) {
	return map[string]int{"confirmed": 3, "bounced": 1}, nil
}

// TestScrape: what is counted and what the store holds come out in
// Prometheus' text format under bantin's names.
func TestScrape(t *testing.T) {
	m := New()
	m.AddGauges(gauges{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	m.FeedRequests.WithLabelValues("rss", "304").Inc()
	m.FeedCacheBytes.Set(123456)
	m.ArticlesIngested.WithLabelValues("api", "created").Add(2)
	m.Deliveries.WithLabelValues("sang", "sent").Add(5)
	m.SMTPTransaction.WithLabelValues("sent").Observe((12 * time.Millisecond).Seconds())
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`bantin_feed_requests_total{code="304",kind="rss"} 1`,
		`bantin_articles_ingested_total{entry="api",result="created"} 2`,
		`bantin_deliveries_total{list="sang",result="sent"} 5`,
		`bantin_smtp_transaction_seconds_count{outcome="sent"} 1`,
		`bantin_feed_cache_bytes 123456`,
		`bantin_outbox_depth 7`,
		`bantin_subscribers{status="confirmed"} 3`,
		`bantin_subscribers{status="bounced"} 1`,
		`go_goroutines `,
		`process_resident_memory_bytes `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}
