package main

import (
	"strconv"
	"strings"
	"time"

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
	return func(k feed.Kind, hit bool) {
		result := "miss"
		if hit {
			result = "hit"
		}
		a.metrics.FeedCache.WithLabelValues(k.Label(), result).Inc()
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
	return func(kind string, code int) { a.metrics.FeedRequests.WithLabelValues(kind, strconv.Itoa(code)).Inc() }
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
