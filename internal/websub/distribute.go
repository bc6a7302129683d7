package websub

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/bantin/bantin/internal/feed"
	"github.com/bantin/bantin/internal/store"
)

// Run distributes until ctx ends: each time the feeds may have changed,
// every feed whose bytes differ from what was last sent goes to its
// subscribers, and the external hubs are pinged for it. It remembers the
// feeds as they are at start, so a restart sends nothing that did not
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

// topics lists the first page of every feed, with its document.
func (h *Hub) topics(ctx context.Context) (map[string]*feed.Rendered, error) {
	scopes, err := h.opts.Feeds.Scopes(ctx)
	if err != nil {
		return nil, err
	}
	out := map[string]*feed.Rendered{}
	for _, sc := range scopes {
		slug := ""
		if sc.Category != nil {
			slug = sc.Category.Slug
		}
		for _, kind := range feed.Kinds {
			doc, err := h.opts.Feeds.Get(ctx, slug, 1, kind)
			if err != nil {
				return nil, err
			}
			out[h.opts.BaseURL+feed.Path(slug, 1, kind)] = doc
		}
	}
	return out, nil
}

func (h *Hub) distribute(ctx context.Context, send bool) {
	topics, err := h.topics(ctx)
	if err != nil {
		if ctx.Err() == nil {
			h.opts.Logger.Warn("websub: feeds not read", "err", err)
		}
		return
	}
	var changed []string
	h.mu.Lock()
	for topic, doc := range topics {
		if h.sent[topic] != doc.ETag {
			changed = append(changed, topic)
		}
	}
	h.mu.Unlock()
	var subs []store.Subscription
	if send && len(changed) > 0 {
		// Read the subscribers before marking anything sent: if this fails,
		// the next change still finds these feeds changed.
		if subs, err = h.opts.Store.Subscriptions(ctx, h.opts.Now()); err != nil {
			h.opts.Logger.Warn("websub: subscriptions not read", "err", err)
			return
		}
	}
	h.mu.Lock()
	for _, topic := range changed {
		h.sent[topic] = topics[topic].ETag
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
			h.deliver(sub, topics[sub.Topic], 1)
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
// as long each time.
func (h *Hub) deliver(sub store.Subscription, doc *feed.Rendered, attempt int) {
	h.background(func(ctx context.Context) {
		log := h.opts.Logger.With("topic", sub.Topic, "callback", redact(sub.Callback), "attempt", attempt)
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, sub.Callback, bytes.NewReader(doc.Body))
		if err != nil {
			log.Warn("websub: delivery not sent", "err", err)
			return
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
			resp.Body.Close()
		}
		err = cause(err)
		observe := func(result string) {
			if h.opts.ObserveDelivery != nil {
				h.opts.ObserveDelivery(result)
			}
		}
		switch {
		case status/100 == 2:
			log.Debug("websub: delivered")
			observe("delivered")
			return
		case status == http.StatusGone:
			log.Info("websub: subscriber gone, subscription ended")
			observe("gone")
			if err := h.opts.Store.DeleteSubscription(ctx, sub.Topic, sub.Callback); err != nil {
				log.Error("websub: subscription not deleted", "err", err)
			}
			return
		}
		if attempt >= h.opts.Retries {
			log.Warn("websub: delivery failed, giving up", "status", status, "err", err)
			observe("failed")
			return
		}
		observe("retry")
		wait := h.opts.RetryBase << (attempt - 1)
		log.Info("websub: delivery failed, will retry", "status", status, "err", err, "in", wait)
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
	})
}

// ping tells an external hub that a topic has new content (the
// PubSubHubbub publish convention most hubs accept).
func (h *Hub) ping(hub, topic string) {
	h.background(func(ctx context.Context) {
		form := url.Values{"hub.mode": {"publish"}, "hub.url": {topic}}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, hub, strings.NewReader(form.Encode()))
		if err != nil {
			h.opts.Logger.Warn("websub: ping not sent", "hub", hub, "err", err)
			return
		}
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		resp, err := h.pinger.Do(req)
		if err != nil {
			h.opts.Logger.Warn("websub: ping failed", "hub", hub, "topic", topic, "err", cause(err))
			return
		}
		resp.Body.Close()
		if resp.StatusCode/100 != 2 {
			h.opts.Logger.Warn("websub: ping refused", "hub", hub, "topic", topic, "status", resp.StatusCode)
		}
	})
}
