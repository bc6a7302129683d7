// Package metrics is what bantin tells Prometheus at /metrics. Every label
// takes a few known values (feed kinds, status classes, results, the
// configured lists and sources), so the series stay bounded.
package metrics

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics holds bantin's collectors on a registry of their own.
type Metrics struct {
	registry *prometheus.Registry

	FeedRequests     *prometheus.CounterVec // kind, code
	FeedRender       prometheus.Histogram
	FeedCache        *prometheus.CounterVec // kind, result
	FeedCacheBytes   prometheus.Gauge
	WebSubDeliveries *prometheus.CounterVec // result
	ArticlesIngested *prometheus.CounterVec // entry, result
	SourcePolls      *prometheus.CounterVec // source, result
	IssuesCreated    *prometheus.CounterVec // list
	Deliveries       *prometheus.CounterVec // list, result
	SMTPTransaction  *prometheus.HistogramVec
	Bounces          *prometheus.CounterVec // source, kind
}

// New makes the collectors and registers them with the Go runtime and
// process collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		FeedRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bantin_feed_requests_total", Help: "Feed requests by feed kind (rss, atom, json, opml) and status code.",
		}, []string{"kind", "code"}),
		FeedRender: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "bantin_feed_render_seconds", Help: "Time to render one feed document (a cache miss).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		FeedCache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bantin_feed_cache_total", Help: "Feed documents asked for, by kind and whether the cache had them (hit, miss).",
		}, []string{"kind", "result"}),
		FeedCacheBytes: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "bantin_feed_cache_bytes", Help: "Memory held by rendered feed documents, both encodings (at most limits.feed_cache).",
		}),
		WebSubDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bantin_websub_deliveries_total", Help: "WebSub content deliveries to subscribers by result (delivered, gone, retry, failed).",
		}, []string{"result"}),
		ArticlesIngested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bantin_articles_ingested_total", Help: "Articles ingested by entry point (api, watch, source) and result (created, updated, unchanged, rejected).",
		}, []string{"entry", "result"}),
		SourcePolls: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bantin_source_polls_total", Help: "Polls of upstream feeds by source and result (ok, not_modified, error).",
		}, []string{"source", "result"}),
		IssuesCreated: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bantin_issues_created_total", Help: "Newsletter issues made, by list.",
		}, []string{"list"}),
		Deliveries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bantin_deliveries_total", Help: "Digest deliveries by list and result (sent, failed, skipped, retry).",
		}, []string{"list", "result"}),
		SMTPTransaction: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "bantin_smtp_transaction_seconds", Help: "Time of one SMTP transaction (MAIL to the end of DATA), by outcome (sent, temporary, permanent).",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}, []string{"outcome"}),
		Bounces: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "bantin_bounces_total", Help: "Bounces, complaints and automatic replies received, by source (import, imap, ses, mailgun, postmark, sendgrid, smtp) and kind (hard, soft, complaint, auto-reply).",
		}, []string{"source", "kind"}),
	}
	m.registry.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.FeedRequests, m.FeedRender, m.FeedCache, m.FeedCacheBytes, m.WebSubDeliveries, m.ArticlesIngested, m.SourcePolls, m.IssuesCreated, m.Deliveries, m.SMTPTransaction, m.Bounces)
	return m
}

// Gauges reads values that live in the store at each scrape.
type Gauges interface {
	QueueDepth(ctx context.Context) (int, error)
	SubscriberCounts(ctx context.Context) (map[string]int, error) // by status
}

// AddGauges registers the store's gauges: outbox depth and subscribers by
// status, read when Prometheus scrapes.
func (m *Metrics) AddGauges(g Gauges, logger *slog.Logger) {
	m.registry.MustRegister(&storeCollector{g: g, logger: logger,
		outbox: prometheus.NewDesc("bantin_outbox_depth", "Messages and deliveries waiting to be sent.", nil, nil),
		subs:   prometheus.NewDesc("bantin_subscribers", "Subscriptions by status (confirmed, pending, unsubscribed, bounced).", []string{"status"}, nil),
	})
}

type storeCollector struct {
	g            Gauges
	logger       *slog.Logger
	outbox, subs *prometheus.Desc
}

func (c *storeCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.outbox; ch <- c.subs }

func (c *storeCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if n, err := c.g.QueueDepth(ctx); err == nil {
		ch <- prometheus.MustNewConstMetric(c.outbox, prometheus.GaugeValue, float64(n))
	} else {
		c.logger.Warn("metrics: outbox depth", "err", err)
	}
	counts, err := c.g.SubscriberCounts(ctx)
	if err != nil {
		c.logger.Warn("metrics: subscriber counts", "err", err)
		return
	}
	for status, n := range counts {
		ch <- prometheus.MustNewConstMetric(c.subs, prometheus.GaugeValue, float64(n), status)
	}
}

// Handler serves the metrics in Prometheus' text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{})
}
