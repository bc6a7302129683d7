package main

import (
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/bantin/bantin/internal/digest"
	"github.com/bantin/bantin/internal/feed"
	"github.com/bantin/bantin/internal/ingest"
	"github.com/bantin/bantin/internal/mail"
)

// The hooks below turn what the packages tell into Prometheus series; each
// is nil outside serve.

func (a *app) metricsCache() func(feed.Kind, bool) {
	if a.metrics == nil {
		return nil
	}
	// Each series is looked up once: this runs on every feed request,
	// and a lookup hashes its labels under a lock.
	var series sync.Map // cacheSeries → prometheus.Counter
	return func(k feed.Kind, hit bool) {
		c, ok := series.Load(cacheSeries{k, hit})
		if !ok {
			result := "miss"
			if hit {
				result = "hit"
			}
			c, _ = series.LoadOrStore(cacheSeries{k, hit}, a.metrics.FeedCache.WithLabelValues(k.Label(), result))
		}
		c.(prometheus.Counter).Inc()
	}
}

func (a *app) metricsCacheBytes() func(int64) {
	if a.metrics == nil {
		return nil
	}
	return func(n int64) { a.metrics.FeedCacheBytes.Set(float64(n)) }
}

func (a *app) metricsWebSub() func(string) {
	if a.metrics == nil {
		return nil
	}
	return func(result string) { a.metrics.WebSubDeliveries.WithLabelValues(result).Inc() }
}

func (a *app) metricsRender() func(time.Duration) {
	if a.metrics == nil {
		return nil
	}
	return func(d time.Duration) { a.metrics.FeedRender.Observe(d.Seconds()) }
}

// metricsIngest counts articles by entry point, read off where they came
// from: the API, an upstream feed, else a file (the watch folder).
func (a *app) metricsIngest() func(ingest.Result) {
	if a.metrics == nil {
		return nil
	}
	return func(r ingest.Result) {
		entry := "watch"
		switch {
		case r.Origin.Path == "api":
			entry = "api"
		case strings.HasPrefix(r.Origin.Path, "source "):
			entry = "source"
		}
		result := r.Outcome.String()
		if r.Err != nil {
			result = "rejected"
		}
		a.metrics.ArticlesIngested.WithLabelValues(entry, result).Inc()
	}
}

func (a *app) metricsAPIIngest() func(string) {
	if a.metrics == nil {
		return nil
	}
	return func(result string) { a.metrics.ArticlesIngested.WithLabelValues("api", result).Inc() }
}

func (a *app) metricsPoll() func(ingest.PollResult) {
	if a.metrics == nil {
		return nil
	}
	return func(r ingest.PollResult) {
		result := "ok"
		switch {
		case r.Err != nil:
			result = "error"
		case r.NotModified:
			result = "not_modified"
		}
		a.metrics.SourcePolls.WithLabelValues(r.Source, result).Inc()
	}
}

func (a *app) metricsSMTP() func(mail.Status, time.Duration) {
	if a.metrics == nil {
		return nil
	}
	return func(s mail.Status, d time.Duration) {
		a.metrics.SMTPTransaction.WithLabelValues(s.String()).Observe(d.Seconds())
	}
}

func (a *app) metricsFeedRequest() func(string, int) {
	if a.metrics == nil {
		return nil
	}
	var series sync.Map // feedSeries → prometheus.Counter; see metricsCache
	return func(kind string, code int) {
		c, ok := series.Load(feedSeries{kind, code})
		if !ok {
			c, _ = series.LoadOrStore(feedSeries{kind, code}, a.metrics.FeedRequests.WithLabelValues(kind, strconv.Itoa(code)))
		}
		c.(prometheus.Counter).Inc()
	}
}

type cacheSeries struct {
	kind feed.Kind
	hit  bool
}

// feedSeries is a series of bantin_feed_requests_total. The kinds and
// codes a feed route answers with are a handful, so the map stays small.
type feedSeries struct {
	kind string
	code int
}

// digestObserver counts issues and deliveries.
type digestObserver struct{ a *app }

func (o digestObserver) IssueMade(list string) { o.a.metrics.IssuesCreated.WithLabelValues(list).Inc() }

func (o digestObserver) Delivered(list string, r digest.Report) {
	for result, n := range map[string]int{"sent": r.Sent, "failed": r.Failed, "skipped": r.Skipped, "retry": r.Retry} {
		if n > 0 {
			o.a.metrics.Deliveries.WithLabelValues(list, result).Add(float64(n))
		}
	}
}

func (a *app) metricsDigest() digest.Observer {
	if a.metrics == nil {
		return nil
	}
	return digestObserver{a}
}
