package websub

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bantin/bantin/internal/feed"
	"github.com/bantin/bantin/internal/store"
)

// Run distributes until ctx ends: each time the feeds may have changed,
// every subscribed feed whose bytes differ from what was last sent goes to
// its subscribers, and the external hubs are pinged for it. It remembers
// the feeds as they are at start, so a restart sends nothing that did not
// change.
func (h *Hub) Run(ctx context.Context) {
	changes := h.opts.Feeds.Listen()
	h.distribute(ctx, false)
	for {
		select {
		case <-ctx.Done():
			return
		case <-changes:
			h.distribute(ctx, true)
		}
	}
}

// topics lists the topics to look at: those with subscribers, and, when
// external hubs are to be pinged, the first page of every feed (they learn
// of changes only from the pings).
func (h *Hub) topics(ctx context.Context, subs []store.Subscription) (map[string]bool, error) {
	out := map[string]bool{}
	for _, sub := range subs {
		out[sub.Topic] = true
	}
	if len(h.opts.ExternalHubs) == 0 {
		return out, nil
	}
	scopes, err := h.opts.Feeds.Scopes(ctx)
	if err != nil {
		return nil, fmt.Errorf("list feeds: %w", err)
	}
	for _, sc := range scopes {
		slug := ""
		if sc.Category != nil {
			slug = sc.Category.Slug
		}
		for _, kind := range feed.Kinds {
			out[h.opts.BaseURL+feed.Path(slug, 1, kind)] = true
		}
	}
	return out, nil
}

// distribute renders each topic that has subscribers once, and sends those
// that changed. Sending only queues: a slow subscriber never holds it up.
func (h *Hub) distribute(ctx context.Context, send bool) {
	read := time.Now()
	subs, err := h.opts.Store.Subscriptions(ctx, h.opts.Now())
	if err != nil {
		if ctx.Err() == nil {
			h.opts.Logger.Warn("websub: subscriptions not read", "err", err)
		}
		return
	}
	h.mu.Lock()
	h.index(subs, read)
	h.mu.Unlock()
	topics, err := h.topics(ctx, subs)
	if err != nil {
		if ctx.Err() == nil {
			h.opts.Logger.Warn("websub: feeds not read", "err", err)
		}
		return
	}
	docs := map[string]*feed.Rendered{}
	for topic := range topics {
		category, kind, ok := h.feedOf(topic)
		if !ok {
			continue // a topic of an earlier base_url
		}
		doc, err := h.opts.Feeds.Get(ctx, category, 1, kind)
		if errors.Is(err, feed.ErrNotFound) {
			continue // a category with no article left
		}
		if err != nil {
			if ctx.Err() == nil {
				h.opts.Logger.Warn("websub: feed not read", "topic", topic, "err", err)
			}
			continue
		}
		docs[topic] = doc
	}
	var changed []string
	h.mu.Lock()
	for topic, doc := range docs {
		if h.sent[topic] != doc.ETag {
			changed = append(changed, topic)
			h.sent[topic] = doc.ETag
		}
	}
	// Forget feeds nobody follows any more: the map stays as small as the
	// set of topics followed.
	for topic := range h.sent {
		if !topics[topic] {
			delete(h.sent, topic)
		}
	}
	h.mu.Unlock()
	if !send || len(changed) == 0 {
		return
	}
	isChanged := map[string]bool{}
	for _, t := range changed {
		isChanged[t] = true
	}
	for _, sub := range subs {
		if isChanged[sub.Topic] {
			h.deliver(sub, docs[sub.Topic], 1)
		}
	}
	for _, hub := range h.opts.ExternalHubs {
		for _, topic := range changed {
			h.ping(hub, topic)
		}
	}
}

// deliver posts a feed to one subscriber (§7). A 2xx is done; 410 Gone
// ends the subscription; anything else is tried again later, waiting twice
// as long each time. A full delivery queue counts as a failed try.
func (h *Hub) deliver(sub store.Subscription, doc *feed.Rendered, attempt int) {
	log := h.opts.Logger.With("topic", sub.Topic, "callback", redact(sub.Callback), "attempt", attempt)
	j := &job{host: callbackHost(sub.Callback), key: "deliver\n" + sub.Topic + "\n" + sub.Callback,
		run: func(ctx context.Context) bool { return h.post(ctx, log, sub, doc, attempt) }}
	if !h.deliveries.add(j) {
		log.Warn("websub: delivery queue full")
		h.retry(log, sub, doc, attempt)
	}
}

// post makes one delivery and reports whether the subscriber timed out.
func (h *Hub) post(ctx context.Context, log *slog.Logger, sub store.Subscription, doc *feed.Rendered, attempt int) (slow bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Callback, bytes.NewReader(doc.Body))
	if err != nil {
		log.Warn("websub: delivery not sent", "err", err)
		return false
	}
	req.Header.Set("Content-Type", doc.ContentType)
	req.Header.Set("Link", "<"+h.URL()+`>; rel="hub", <`+sub.Topic+`>; rel="self"`)
	if sub.Secret != "" {
		req.Header.Set("X-Hub-Signature", sign(sub.Secret, doc.Body))
	}
	resp, err := h.client.Do(req)
	status := 0
	if err == nil {
		status = resp.StatusCode
		// Drain a little so the connection can be used again.
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4096))
		resp.Body.Close()
	}
	slow = err != nil && timedOut(err)
	err = cause(err)
	switch {
	case status/100 == 2:
		log.Debug("websub: delivered")
		h.observe("delivered")
		return false
	case status == http.StatusGone:
		log.Info("websub: subscriber gone, subscription ended")
		h.observe("gone")
		if err := h.opts.Store.DeleteSubscription(ctx, sub.Topic, sub.Callback); err != nil {
			log.Error("websub: subscription not deleted", "err", err)
		} else {
			h.mu.Lock()
			h.note(sub.Topic, sub.Callback, false)
			h.mu.Unlock()
		}
		return false
	}
	if ctx.Err() != nil {
		return false // the hub is closing
	}
	log.Info("websub: delivery failed", "status", status, "err", err)
	h.retry(log, sub, doc, attempt)
	return slow
}

func (h *Hub) observe(result string) {
	if h.opts.ObserveDelivery != nil {
		h.opts.ObserveDelivery(result)
	}
}

// retry tries a failed delivery again later, unless it has been tried
// enough.
func (h *Hub) retry(log *slog.Logger, sub store.Subscription, doc *feed.Rendered, attempt int) {
	if attempt >= h.opts.Retries {
		log.Warn("websub: delivery failed, giving up")
		h.observe("failed")
		return
	}
	h.observe("retry")
	wait := h.opts.RetryBase << (attempt - 1)
	log.Info("websub: will retry", "in", wait)
	h.wg.Add(1)
	time.AfterFunc(wait, func() {
		defer h.wg.Done()
		// A newer version supersedes this one: it has been (or is being)
		// sent on its own, and a late old copy would undo it.
		h.mu.Lock()
		current := h.sent[sub.Topic] == doc.ETag
		h.mu.Unlock()
		if current {
			h.deliver(sub, doc, attempt+1)
		}
	})
}

// ping tells an external hub that a topic has new content (the
// PubSubHubbub publish convention most hubs accept).
func (h *Hub) ping(hub, topic string) {
	j := &job{host: callbackHost(hub), key: "ping\n" + hub + "\n" + topic, run: func(ctx context.Context) bool {
		form := url.Values{"hub.mode": {"publish"}, "hub.url": {topic}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, hub, strings.NewReader(form.Encode()))
		if err != nil {
			h.opts.Logger.Warn("websub: ping not sent", "hub", hub, "err", err)
			return false
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := h.pinger.Do(req)
		if err != nil {
			h.opts.Logger.Warn("websub: ping failed", "hub", hub, "topic", topic, "err", cause(err))
			return timedOut(err)
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			h.opts.Logger.Warn("websub: ping refused", "hub", hub, "topic", topic, "status", resp.StatusCode)
		}
		return false
	}}
	if !h.deliveries.add(j) {
		h.opts.Logger.Warn("websub: ping not sent: the queue is full", "hub", hub, "topic", topic)
	}
}
