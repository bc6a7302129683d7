package postgres_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// syncCounter is a TCP proxy in front of PostgreSQL that counts the Sync
// messages clients send: one per round trip of the extended protocol.
type syncCounter struct {
	syncs atomic.Int64
}

// proxy starts a counting proxy and returns dsn pointed at it.
func (c *syncCounter) proxy(t *testing.T, dsn string) string {
	t.Helper()
	u, err := url.Parse(dsn)
	if err != nil || u.Host == "" {
		t.Skipf("BANTIN_TEST_POSTGRES_DSN is not a URL with a host: %v", err)
	}
	target := u.Host
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			server, err := net.Dial("tcp", target)
			if err != nil {
				client.Close()
				continue
			}
			go func() { io.Copy(client, server); client.Close() }()
			go func() { c.count(client, server); server.Close() }()
		}
	}()
	u.Host = ln.Addr().String()
	return u.String()
}

// count copies the client's messages to the server, counting Syncs.
func (c *syncCounter) count(client io.Reader, server io.Writer) {
	header := make([]byte, 8)
	// Untyped first messages: an SSL or GSS request, then the startup.
	for {
		if _, err := io.ReadFull(client, header); err != nil {
			return
		}
		n := int(binary.BigEndian.Uint32(header[:4]))
		code := binary.BigEndian.Uint32(header[4:])
		if _, err := server.Write(header); err != nil {
			return
		}
		if _, err := io.CopyN(server, client, int64(n-8)); err != nil {
			return
		}
		if code != 80877103 && code != 80877104 {
			break
		}
	}
	for {
		if _, err := io.ReadFull(client, header[:5]); err != nil {
			return
		}
		if header[0] == 'S' {
			c.syncs.Add(1)
		}
		if _, err := server.Write(header[:5]); err != nil {
			return
		}
		if _, err := io.CopyN(server, client, int64(binary.BigEndian.Uint32(header[1:5]))-4); err != nil {
			return
		}
	}
}

// The importer hands the store batches of 500; a batch of new articles
// must cost a few round trips, not three per article.
func TestSaveArticlesBatchOf500NewTakesFewRoundTrips(t *testing.T) {
	var counter syncCounter
	s := open(t, counter.proxy(t, newSchema(t)))
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	batch := make([]article.Article, 500)
	for i := range batch {
		id := fmt.Sprintf("a%03d", i)
		batch[i] = article.Article{ID: id, GUID: "urn:" + id, Slug: "bai-" + id, Title: "Bài " + id,
			PublishedAt: t0, InputHash: "h-" + id,
			Categories: []article.Category{{Slug: "kinh-te", Title: "Kinh tế"}, {Slug: fmt.Sprintf("c%d", i%7), Title: fmt.Sprintf("c%d", i%7)}}}
	}
	counter.syncs.Store(0)
	saved, err := s.SaveArticles(ctx, t0, batch)
	if err != nil {
		t.Fatal(err)
	}
	got := counter.syncs.Load()
	t.Logf("500 new articles: %d round trips", got)
	if got > 10 {
		t.Errorf("saving 500 new articles took %d round trips, want at most 10", got)
	}
	for i, sv := range saved {
		if sv.Outcome != store.Created || sv.Slug != batch[i].Slug {
			t.Fatalf("saved[%d] = %+v, want created with slug %q", i, sv, batch[i].Slug)
		}
	}
	n, err := s.CountArticles(ctx, store.ArticleQuery{Now: t0, Category: "kinh-te"})
	if err != nil || n != 500 {
		t.Fatalf("articles in kinh-te: %d, %v; want 500", n, err)
	}

	// Saved again: all unchanged.
	counter.syncs.Store(0)
	saved, err = s.SaveArticles(ctx, t0.Add(time.Hour), batch)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("500 unchanged articles: %d round trips", counter.syncs.Load())
	for i, sv := range saved {
		if sv.Outcome != store.Unchanged {
			t.Fatalf("saved again [%d] = %+v, want unchanged", i, sv)
		}
	}
}

// Slugs taken within a batch get their suffix in the batch's order, as
// if the articles were saved one by one: the second "x" takes x-2 before
// the article that asked for x-2 itself comes.
func TestSaveArticlesSlugSuffixesInBatchOrder(t *testing.T) {
	s := open(t, newSchema(t))
	ctx := context.Background()
	t0 := time.Date(2026, 3, 1, 8, 0, 0, 0, time.UTC)
	mk := func(id, slug string) article.Article {
		return article.Article{ID: id, GUID: "urn:" + id, Slug: slug, Title: id, PublishedAt: t0, InputHash: "h-" + id}
	}
	if _, err := s.SaveArticles(ctx, t0, []article.Article{mk("old", "y")}); err != nil {
		t.Fatal(err)
	}
	saved, err := s.SaveArticles(ctx, t0, []article.Article{
		mk("a", "x"), mk("b", "x"), mk("c", "x-2"), mk("d", "y"), mk("e", "y-2"), mk("f", "z")})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"x", "x-2", "x-2-2", "y-2", "y-2-2", "z"}
	for i, sv := range saved {
		if sv.Slug != want[i] || sv.Outcome != store.Created {
			t.Errorf("saved[%d] = %+v, want created with slug %q", i, sv, want[i])
		}
		a, err := s.ArticleBySlug(ctx, want[i])
		if err != nil || a.ID != sv.ID {
			t.Errorf("article with slug %q: %q, %v; want %q", want[i], a.ID, err, sv.ID)
		}
	}
}
