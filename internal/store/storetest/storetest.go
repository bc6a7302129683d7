// Package storetest is the conformance suite every store backend runs: the
// behaviour callers rely on, whatever keeps the data.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// Harness opens stores of one backend.
type Harness struct {
	// New returns an empty, migrated store that the test owns.
	New func(t *testing.T) store.Store
	// Reopen returns a second handle on the same data as s, as another
	// process would open it.
	Reopen func(t *testing.T, s store.Store) store.Store
}

var t0 = time.Date(2024, 3, 28, 1, 0, 0, 0, time.UTC)

func sample(id string, published time.Time) article.Article {
	return article.Article{
		ID:          id,
		GUID:        "tag:example.vn,2024-03-28:" + id,
		Slug:        "cong-tac-dan-van",
		Title:       "Công tác dân vận góp phần gắn kết",
		URL:         "https://example.vn/" + id + ".html",
		Author:      "Ngọc Nữ",
		Categories:  []article.Category{{Slug: "dan-van", Title: "Dân vận"}, {Slug: "thoi-su", Title: "Thời sự"}},
		Summary:     "Ngày 19/3, đoàn cán bộ đã có buổi khảo sát.",
		ContentHTML: "<p>(Báo X) - Ngày 19/3, đoàn cán bộ đã có buổi khảo sát.</p>",
		Image:       &article.Image{URL: "https://example.vn/a.jpg", Caption: "Phát biểu", Type: "image/jpeg", Length: 48213},
		PublishedAt: published,
		InputHash:   "hash-" + id,
		SourceHash:  "source-" + id,
	}
}

// timeEqual compares instants, not locations.
var timeEqual = cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })

// Run runs the whole suite.
func Run(t *testing.T, h Harness) {
	t.Run("CreateAndRead", func(t *testing.T) { testCreateAndRead(t, h) })
	t.Run("Identity", func(t *testing.T) { testIdentity(t, h) })
	t.Run("SameContentIsUnchanged", func(t *testing.T) { testSameContent(t, h) })
	t.Run("SlugCollision", func(t *testing.T) { testSlugCollision(t, h) })
	t.Run("Listing", func(t *testing.T) { testListing(t, h) })
	t.Run("Delete", func(t *testing.T) { testDelete(t, h) })
	t.Run("CategoryTitles", func(t *testing.T) { testCategoryTitles(t, h) })
	t.Run("BatchIsAtomic", func(t *testing.T) { testBatchAtomic(t, h) })
	t.Run("Changes", func(t *testing.T) { testChanges(t, h) })
	t.Run("Subscriptions", func(t *testing.T) { testSubscriptions(t, h) })
	t.Run("Secret", func(t *testing.T) { testSecret(t, h) })
	t.Run("Subscribers", func(t *testing.T) { testSubscribers(t, h) })
	t.Run("RenamePending", func(t *testing.T) { testRenamePending(t, h) })
	t.Run("ClaimConfirmationOncePerSubscribeConfirmResend", func(t *testing.T) { testClaimConfirmation(t, h) })
	t.Run("DeleteStalePendingAfterSubscribeConfirmTTL", func(t *testing.T) { testDeleteStalePending(t, h) })
	t.Run("ErrorsNameNoAddress", func(t *testing.T) { testErrorsNameNoAddress(t, h) })
	t.Run("Outbox", func(t *testing.T) { testOutbox(t, h) })
	t.Run("WindowArticles", func(t *testing.T) { testWindowArticles(t, h) })
	t.Run("Issues", func(t *testing.T) { testIssues(t, h) })
	t.Run("IssueLifecycle", func(t *testing.T) { testIssueLifecycle(t, h) })
	t.Run("SourceStates", func(t *testing.T) { testSourceStates(t, h) })
	t.Run("Leases", func(t *testing.T) { testLeases(t, h) })
	t.Run("Bounces", func(t *testing.T) { testBounces(t, h) })
	t.Run("BouncesConcurrentDuplicate", func(t *testing.T) { testBouncesConcurrentDuplicate(t, h) })
	t.Run("BouncesConcurrentSoftAtSoftBounceLimit5", func(t *testing.T) { testBouncesConcurrentSoft(t, h) })
	t.Run("Ping", func(t *testing.T) {
		if err := h.New(t).Ping(context.Background()); err != nil {
			t.Fatalf("Ping on a migrated store: %v", err)
		}
	})
}

func save(t *testing.T, s store.Store, now time.Time, as ...article.Article) []store.Saved {
	t.Helper()
	saved, err := s.SaveArticles(context.Background(), now, as)
	if err != nil {
		t.Fatalf("SaveArticles: %v", err)
	}
	return saved
}

func testCreateAndRead(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	want := sample("cms-1", t0)
	saved := save(t, s, t0.Add(time.Hour), want)
	if diff := cmp.Diff([]store.Saved{{ID: "cms-1", Slug: want.Slug, GUID: want.GUID, Outcome: store.Created}}, saved); diff != "" {
		t.Errorf("saved (-want +got):\n%s", diff)
	}
	want.StoredAt = t0.Add(time.Hour)
	want.UpdatedAt = t0 // no updated date: the publication date
	got, err := s.Article(ctx, "cms-1")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got, timeEqual); diff != "" {
		t.Errorf("Article (-want +got):\n%s", diff)
	}
	bySlug, err := s.ArticleBySlug(ctx, want.Slug)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, bySlug, timeEqual); diff != "" {
		t.Errorf("ArticleBySlug (-want +got):\n%s", diff)
	}
	if _, err := s.Article(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Article(missing) error = %v, want ErrNotFound", err)
	}
	if _, err := s.ArticleBySlug(ctx, "missing"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ArticleBySlug(missing) error = %v, want ErrNotFound", err)
	}

	// Without a publication date the article is published when stored.
	undated := sample("cms-2", time.Time{})
	undated.Slug, undated.GUID, undated.Image, undated.Categories = "khong-ngay", "tag:example.vn,2024-03-28:cms-2", nil, nil
	undated.SourceHash = "" // made through the API: no source bytes
	save(t, s, t0.Add(2*time.Hour), undated)
	if known, err := s.KnownSources(ctx, []string{""}); err != nil || len(known) != 0 {
		t.Errorf("KnownSources of the empty hash = %v, %v; want nothing: an unknown source is not a known one", known, err)
	}
	got, err = s.Article(ctx, "cms-2")
	if err != nil {
		t.Fatal(err)
	}
	if !got.PublishedAt.Equal(t0.Add(2*time.Hour)) || !got.UpdatedAt.Equal(got.PublishedAt) || got.Image != nil || len(got.Categories) != 0 {
		t.Errorf("undated article: published %v updated %v image %v categories %v; want published and updated at the store time, no image, no categories",
			got.PublishedAt, got.UpdatedAt, got.Image, got.Categories)
	}
}

func testIdentity(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	first := sample("cms-1", t0)
	save(t, s, t0, first)

	sources, err := s.KnownSources(ctx, []string{"source-cms-1", "source-nope", ""})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"source-cms-1": "cms-1"}, sources); diff != "" {
		t.Errorf("KnownSources (-want +got):\n%s", diff)
	}
	hashes, err := s.ArticleHashes(ctx, []string{"cms-1", "nope"})
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"cms-1": "hash-cms-1"}, hashes); diff != "" {
		t.Errorf("ArticleHashes (-want +got):\n%s", diff)
	}

	// The same input again writes nothing.
	again := first
	again.Title = "ignored: same hash"
	saved := save(t, s, t0.Add(time.Hour), again)
	if saved[0].Outcome != store.Unchanged {
		t.Errorf("same input: outcome %v, want unchanged", saved[0].Outcome)
	}
	got, _ := s.Article(ctx, "cms-1")
	if got.Title != first.Title || !got.UpdatedAt.Equal(t0) {
		t.Errorf("same input changed the article: title %q updated %v", got.Title, got.UpdatedAt)
	}

	// Changed input keeps id, slug, GUID and first-store time; gets a new
	// updated date; a zero published date keeps the stored one.
	edit := first
	edit.Title = "Tiêu đề đã sửa"
	edit.Slug = "tieu-de-da-sua"
	edit.GUID = "tag:other.example,2025-01-01:cms-1"
	edit.PublishedAt = time.Time{}
	edit.Categories = []article.Category{{Slug: "kinh-te", Title: "Kinh tế"}}
	edit.Image = nil
	edit.InputHash = "hash-2"
	later := t0.Add(48 * time.Hour)
	saved = save(t, s, later, edit)
	if diff := cmp.Diff([]store.Saved{{ID: "cms-1", Slug: first.Slug, GUID: first.GUID, Outcome: store.Updated}}, saved); diff != "" {
		t.Errorf("update result (-want +got):\n%s", diff)
	}
	got, _ = s.Article(ctx, "cms-1")
	want := edit
	want.Slug, want.GUID, want.StoredAt, want.PublishedAt, want.UpdatedAt = first.Slug, first.GUID, t0, t0, later
	if diff := cmp.Diff(want, got, timeEqual); diff != "" {
		t.Errorf("updated article (-want +got):\n%s", diff)
	}

	// An explicit, newer updated date is kept as given.
	edit2 := edit
	edit2.InputHash = "hash-3"
	edit2.UpdatedAt = later.Add(time.Hour)
	save(t, s, later.Add(2*time.Hour), edit2)
	got, _ = s.Article(ctx, "cms-1")
	if !got.UpdatedAt.Equal(later.Add(time.Hour)) {
		t.Errorf("updated_at = %v, want the given %v", got.UpdatedAt, later.Add(time.Hour))
	}
}

func testSlugCollision(t *testing.T, h Harness) {
	s := h.New(t)
	a, b, c := sample("a", t0), sample("b", t0), sample("c", t0)
	b.GUID, c.GUID = "tag:b", "tag:c"
	saved := save(t, s, t0, a, b)
	saved = append(saved, save(t, s, t0, c)...)
	var slugs []string
	for _, x := range saved {
		slugs = append(slugs, x.Slug)
	}
	want := []string{"cong-tac-dan-van", "cong-tac-dan-van-2", "cong-tac-dan-van-3"}
	if diff := cmp.Diff(want, slugs); diff != "" {
		t.Errorf("slugs (-want +got):\n%s", diff)
	}
}

func testListing(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	var batch []article.Article
	for i := range 5 {
		a := sample(fmt.Sprintf("a%d", i), t0.Add(time.Duration(i)*time.Hour))
		a.Slug, a.GUID = fmt.Sprintf("bai-%d", i), fmt.Sprintf("tag:a%d", i)
		if i%2 == 1 {
			a.Categories = []article.Category{{Slug: "kinh-te", Title: "Kinh tế"}}
		}
		batch = append(batch, a)
	}
	save(t, s, t0, batch...)
	ids := func(q store.ArticleQuery) []string {
		t.Helper()
		list, err := s.Articles(ctx, q)
		if err != nil {
			t.Fatalf("Articles(%+v): %v", q, err)
		}
		var out []string
		for _, a := range list {
			out = append(out, a.ID)
		}
		return out
	}
	for _, tc := range []struct {
		name string
		q    store.ArticleQuery
		want []string
	}{
		{"all, newest first", store.ArticleQuery{IncludeScheduled: true}, []string{"a4", "a3", "a2", "a1", "a0"}},
		{"scheduled hidden", store.ArticleQuery{Now: t0.Add(2 * time.Hour)}, []string{"a2", "a1", "a0"}},
		{"category", store.ArticleQuery{Category: "kinh-te", IncludeScheduled: true}, []string{"a3", "a1"}},
		{"category and time", store.ArticleQuery{Category: "dan-van", Now: t0.Add(3 * time.Hour)}, []string{"a2", "a0"}},
		{"limit", store.ArticleQuery{Limit: 2, IncludeScheduled: true}, []string{"a4", "a3"}},
		{"page", store.ArticleQuery{Limit: 2, Offset: 2, IncludeScheduled: true}, []string{"a2", "a1"}},
		{"unknown category", store.ArticleQuery{Category: "khong-co", IncludeScheduled: true}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, ids(tc.q), cmpopts.EquateEmpty()); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
		})
	}
	for _, tc := range []struct {
		q    store.ArticleQuery
		want int
	}{
		{store.ArticleQuery{IncludeScheduled: true, Limit: 1}, 5},
		{store.ArticleQuery{Now: t0.Add(2 * time.Hour)}, 3},
		{store.ArticleQuery{Category: "kinh-te", Now: t0.Add(2 * time.Hour)}, 1},
	} {
		if n, err := s.CountArticles(ctx, tc.q); err != nil || n != tc.want {
			t.Errorf("CountArticles(%+v) = %d, %v; want %d", tc.q, n, err, tc.want)
		}
	}
	if next, ok, err := s.NextScheduled(ctx, t0.Add(2*time.Hour)); err != nil || !ok || !next.Equal(t0.Add(3*time.Hour)) {
		t.Errorf("NextScheduled = %v, %v, %v; want %v", next, ok, err, t0.Add(3*time.Hour))
	}
	if _, ok, err := s.NextScheduled(ctx, t0.Add(4*time.Hour)); err != nil || ok {
		t.Errorf("NextScheduled after the last article = %v, %v; want none", ok, err)
	}
	cats, err := s.Categories(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]article.Category{{Slug: "dan-van", Title: "Dân vận"}, {Slug: "thoi-su", Title: "Thời sự"}}, cats); diff != "" {
		t.Errorf("Categories at t0, before the first kinh-te article (-want +got):\n%s", diff)
	}
	list, _ := s.Articles(ctx, store.ArticleQuery{Category: "dan-van", Limit: 1, IncludeScheduled: true})
	if len(list) != 1 || len(list[0].Categories) != 2 {
		t.Errorf("a listed article must carry all its categories, got %+v", list)
	}
}

func testDelete(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	save(t, s, t0, sample("gone", t0))
	if err := s.DeleteArticle(ctx, "gone"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Article(ctx, "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after delete: %v, want ErrNotFound", err)
	}
	if list, _ := s.Articles(ctx, store.ArticleQuery{Category: "dan-van", IncludeScheduled: true}); len(list) != 0 {
		t.Errorf("deleted article still listed in its category: %v", list)
	}
	if err := s.DeleteArticle(ctx, "gone"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second delete: %v, want ErrNotFound", err)
	}
	// Stored again, it is a new article.
	if saved := save(t, s, t0, sample("gone", t0)); saved[0].Outcome != store.Created {
		t.Errorf("re-created article: outcome %v", saved[0].Outcome)
	}
}

func testBatchAtomic(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	save(t, s, t0, sample("kept", t0))
	fresh := sample("fresh", t0)
	fresh.GUID = "tag:fresh"
	clash := sample("clash", t0)
	clash.GUID = sample("kept", t0).GUID // another article's GUID
	if _, err := s.SaveArticles(ctx, t0, []article.Article{fresh, clash}); !errors.Is(err, store.ErrConflict) {
		t.Fatalf("batch with a GUID clash: error %v, want ErrConflict", err)
	}
	if _, err := s.Article(ctx, "fresh"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a failed batch left part of itself behind: %v", err)
	}
	if _, err := s.Article(ctx, "kept"); err != nil {
		t.Errorf("a failed batch lost what was stored: %v", err)
	}
}

func testChanges(t *testing.T, h Harness) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	s := h.New(t)
	changes := s.Changes(ctx)
	expect := func(what string) {
		t.Helper()
		select {
		case <-changes:
		case <-time.After(time.Second):
			t.Fatalf("no change signal within a second after %s", what)
		}
		// A backend may signal one change twice (say, once at commit and
		// once when its poller sees it); let the echo pass.
		settle := time.After(500 * time.Millisecond)
		for {
			select {
			case <-changes:
			case <-settle:
				return
			}
		}
	}
	quiet := func(what string) {
		t.Helper()
		select {
		case <-changes:
			t.Fatalf("change signal after %s, which changed nothing", what)
		case <-time.After(500 * time.Millisecond):
		}
	}
	save(t, s, t0, sample("one", t0))
	expect("a save in this process")
	save(t, s, t0, sample("one", t0))
	quiet("saving the same input again")

	other := h.Reopen(t, s)
	two := sample("two", t0)
	two.GUID, two.Slug = "tag:two", "two"
	save(t, other, t0, two)
	expect("a save through another handle (another process)")
	if err := other.DeleteArticle(ctx, "two"); err != nil {
		t.Fatal(err)
	}
	expect("a delete through another handle")
	// Writes that are not articles (leases, source states, as a daemon
	// makes every second) are no change to the feeds.
	for i := range 3 {
		if _, err := other.AcquireLease(ctx, "scheduler", "b", t0.Add(time.Duration(i)*time.Second), time.Minute); err != nil {
			t.Fatal(err)
		}
		if err := other.SaveSourceState(ctx, store.SourceState{Name: "tinh", URL: "u", FetchURL: "u", Failures: i}); err != nil {
			t.Fatal(err)
		}
	}
	quiet("lease renewals and source states written through another handle")
	cancel()
	for range changes {
	}
}

func testSubscriptions(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	a := store.Subscription{Topic: "https://example.vn/feeds/rss.xml", Callback: "https://reader.example/cb?id=1", Secret: "s1",
		ExpiresAt: t0.Add(24 * time.Hour), CreatedAt: t0}
	b := store.Subscription{Topic: "https://example.vn/feeds/atom.xml", Callback: "https://reader.example/cb", ExpiresAt: t0.Add(time.Hour), CreatedAt: t0}
	for _, sub := range []store.Subscription{a, b} {
		if err := s.SaveSubscription(ctx, sub); err != nil {
			t.Fatal(err)
		}
	}
	// Renewal: same topic and callback, new lease and secret.
	renewed := a
	renewed.Secret, renewed.ExpiresAt = "s2", t0.Add(48*time.Hour)
	if err := s.SaveSubscription(ctx, renewed); err != nil {
		t.Fatal(err)
	}
	got, err := s.Subscriptions(ctx, t0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.Subscription{b, renewed}, got, timeEqual); diff != "" {
		t.Errorf("Subscriptions (-want +got):\n%s", diff)
	}
	// An expired lease is gone.
	got, _ = s.Subscriptions(ctx, t0.Add(2*time.Hour))
	if diff := cmp.Diff([]store.Subscription{renewed}, got, timeEqual); diff != "" {
		t.Errorf("after b's lease (-want +got):\n%s", diff)
	}
	if err := s.DeleteSubscription(ctx, a.Topic, a.Callback); err != nil {
		t.Fatal(err)
	}
	if err := s.DeleteSubscription(ctx, a.Topic, a.Callback); err != nil {
		t.Errorf("deleting a missing subscription: %v", err)
	}
	if got, _ := s.Subscriptions(ctx, t0); len(got) != 0 {
		t.Errorf("after unsubscribing: %v", got)
	}
}

func testSecret(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	first, err := s.Secret(ctx, "tokens", 32)
	if err != nil {
		t.Fatal(err)
	}
	if len(first) != 32 || bytes.Equal(first, make([]byte, 32)) {
		t.Fatalf("secret %x: want 32 random bytes", first)
	}
	again, _ := s.Secret(ctx, "tokens", 32)
	other := h.Reopen(t, s)
	fromOther, err := other.Secret(ctx, "tokens", 32)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, again) || !bytes.Equal(first, fromOther) {
		t.Errorf("the secret changed: %x, then %x, from another handle %x", first, again, fromOther)
	}
	if different, _ := s.Secret(ctx, "other", 32); bytes.Equal(different, first) {
		t.Error("two secrets share a value")
	}
}

func testSubscribers(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	nu, err := s.SaveSubscriber(ctx, store.Subscriber{Email: " Nu@Example.VN ", Name: "Ngọc Nữ", Language: "vi"}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if nu.ID == 0 || nu.Email != "Nu@Example.VN" || nu.Name != "Ngọc Nữ" || !nu.CreatedAt.Equal(t0) || len(nu.Lists) != 0 {
		t.Errorf("new subscriber %+v", nu)
	}
	// The same address in another case is the same person, and another
	// name typed with it changes nothing.
	same, err := s.SaveSubscriber(ctx, store.Subscriber{Email: "nu@example.vn", Name: "Kẻ mạo danh"}, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if same.ID != nu.ID || same.Name != "Ngọc Nữ" || !same.CreatedAt.Equal(t0) {
		t.Errorf("same address again: %+v, want the stored subscriber %d", same, nu.ID)
	}
	hoa, _ := s.SaveSubscriber(ctx, store.Subscriber{Email: "hoa@example.vn", Name: "Lê Hoa"}, t0)
	// The newest subscriber is erased below and signs up again: its id must
	// not come back.
	last, _ := s.SaveSubscriber(ctx, store.Subscriber{Email: "cuoi@example.vn"}, t0)

	for _, step := range []struct {
		id     int64
		list   string
		status store.SubscriptionStatus
	}{
		{nu.ID, "sang", store.Pending}, {nu.ID, "sang", store.Confirmed}, {nu.ID, "toi", store.Confirmed},
		{hoa.ID, "sang", store.Confirmed}, {hoa.ID, "toi", store.Pending},
	} {
		if err := s.SetListStatus(ctx, step.id, step.list, step.status, t0); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.SetListStatus(ctx, 999999, "sang", store.Confirmed, t0); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("status for a missing subscriber: %v, want ErrNotFound", err)
	}
	emails := func(list string, status store.SubscriptionStatus) []string {
		t.Helper()
		subs, err := s.ListSubscribers(ctx, list, status)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, sub := range subs {
			out = append(out, sub.Email)
		}
		return out
	}
	if diff := cmp.Diff([]string{"hoa@example.vn", "Nu@Example.VN"}, emails("sang", store.Confirmed)); diff != "" {
		t.Errorf("confirmed of sang (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"hoa@example.vn"}, emails("toi", store.Pending)); diff != "" {
		t.Errorf("pending of toi (-want +got):\n%s", diff)
	}
	if err := s.SetListStatus(ctx, nu.ID, "sang", store.Unsubscribed, t0); err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"hoa@example.vn"}, emails("sang", store.Confirmed)); diff != "" {
		t.Errorf("after unsubscribing (-want +got):\n%s", diff)
	}

	if err := s.SetCategories(ctx, nu.ID, []string{"thoi-su", "dan-van", "thoi-su"}); err != nil {
		t.Fatal(err)
	}
	got, err := s.Subscriber(ctx, nu.ID)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]store.SubscriptionStatus{"sang": store.Unsubscribed, "toi": store.Confirmed}
	if diff := cmp.Diff(want, got.Lists); diff != "" {
		t.Errorf("lists (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dan-van", "thoi-su"}, got.Categories); diff != "" {
		t.Errorf("categories (-want +got):\n%s", diff)
	}

	recipients := func(list string) int {
		t.Helper()
		n, err := s.Recipients(ctx, list)
		if err != nil {
			t.Fatalf("Recipients(%s): %v", list, err)
		}
		return n
	}
	if sang, toi, none := recipients("sang"), recipients("toi"), recipients("khong-co"); sang != 1 || toi != 1 || none != 0 {
		t.Errorf("Recipients before the bounces: sang %d, toi %d, no such list %d; want 1 (hoa), 1 (nu; hoa pending), 0", sang, toi, none)
	}
	for i, want := range []bool{false, false, true} {
		bounced, err := s.RecordBounce(ctx, hoa.ID, 3)
		if err != nil || bounced != want {
			t.Errorf("bounce %d: bounced %v, %v; want %v", i+1, bounced, err, want)
		}
	}
	if b, _ := s.SubscriberByEmail(ctx, "HOA@example.vn"); !b.Bounced || b.Bounces != 3 {
		t.Errorf("after 3 bounces: %+v", b)
	}
	if n := recipients("sang"); n != 0 {
		t.Errorf("Recipients(sang) with hoa bounced = %d, want 0", n)
	}

	if err := s.EraseSubscriber(ctx, "NU@example.vn"); err != nil {
		t.Fatal(err)
	}
	if err := s.EraseSubscriber(ctx, last.Email); err != nil {
		t.Fatal(err)
	}
	if back, _ := s.SaveSubscriber(ctx, store.Subscriber{Email: last.Email}, t0); back.ID == last.ID {
		t.Errorf("id %d was given again after its subscriber was erased", back.ID)
	}
	if _, err := s.SubscriberByEmail(ctx, "nu@example.vn"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("after erase: %v, want ErrNotFound", err)
	}
	if diff := cmp.Diff([]string{"hoa@example.vn"}, emails("toi", store.Pending)); diff != "" {
		t.Errorf("erasing one subscriber touched another (-want +got):\n%s", diff)
	}
	if err := s.EraseSubscriber(ctx, "nu@example.vn"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second erase: %v, want ErrNotFound", err)
	}
	// Nothing of the erased person is left: a new sign-up is a new person,
	// under a new id (old link tokens name the old id).
	again, _ := s.SaveSubscriber(ctx, store.Subscriber{Email: "nu@example.vn"}, t0.Add(2*time.Hour))
	if again.ID == nu.ID || len(again.Lists) != 0 || len(again.Categories) != 0 || again.Name != "" {
		t.Errorf("the erased subscriber came back: %+v", again)
	}
}

func testOutbox(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	sub, _ := s.SaveSubscriber(ctx, store.Subscriber{Email: "nu@example.vn"}, t0)
	mail := func(id string, due time.Time, subscriber int64) store.OutboxMail {
		return store.OutboxMail{MessageID: id, Kind: "confirm", SubscriberID: subscriber, Recipient: "nu@example.vn",
			Payload: []byte(`{"subject":"` + id + `"}`), NextAttempt: due, CreatedAt: t0}
	}
	for _, m := range []store.OutboxMail{mail("a@x", t0, sub.ID), mail("b@x", t0.Add(time.Minute), 0), mail("c@x", t0.Add(time.Hour), sub.ID)} {
		if created, err := s.EnqueueMail(ctx, m); err != nil || !created {
			t.Fatalf("enqueue %s: %v %v", m.MessageID, created, err)
		}
	}
	if created, err := s.EnqueueMail(ctx, mail("a@x", t0, sub.ID)); err != nil || created {
		t.Errorf("the same Message-ID again: created %v, %v; want no second message", created, err)
	}
	ids := func(ms []store.OutboxMail) []string {
		var out []string
		for _, m := range ms {
			out = append(out, m.MessageID)
		}
		return out
	}
	now := t0.Add(2 * time.Minute)
	claimed, err := s.ClaimMail(ctx, now, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	// A claim returns its messages in no particular order.
	slices.SortFunc(claimed, func(a, b store.OutboxMail) int { return strings.Compare(a.MessageID, b.MessageID) })
	if diff := cmp.Diff([]string{"a@x", "b@x"}, ids(claimed), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("claimed (-want +got):\n%s", diff)
	}
	if claimed[0].Attempts != 1 || string(claimed[0].Payload) != `{"subject":"a@x"}` || claimed[0].SubscriberID != sub.ID || claimed[1].SubscriberID != 0 {
		t.Errorf("claimed message %+v", claimed[0])
	}
	// Another process claims nothing that is claimed.
	other := h.Reopen(t, s)
	if again, _ := other.ClaimMail(ctx, now, 10, time.Minute); len(again) != 0 {
		t.Errorf("a second claim took %v while the first was held", ids(again))
	}
	if err := s.MarkMailSent(ctx, claimed[0], now); err != nil {
		t.Fatal(err)
	}
	// b's claimer died: after the lease another claimer gets it.
	later := now.Add(2 * time.Minute)
	retaken, _ := other.ClaimMail(ctx, later, 10, time.Minute)
	if diff := cmp.Diff([]string{"b@x"}, ids(retaken)); diff != "" {
		t.Errorf("after the lease (-want +got):\n%s", diff)
	}
	if retaken[0].Attempts != 2 {
		t.Errorf("attempts %d, want 2", retaken[0].Attempts)
	}
	// The first claimer of b wakes up late: its claim is gone, its mark
	// changes nothing.
	if err := s.MarkMailSent(ctx, claimed[1], later); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a mark on a lost claim: %v, want ErrConflict", err)
	}
	if err := other.MarkMailRetry(ctx, retaken[0], later.Add(time.Hour), "451 try later"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.ClaimMail(ctx, later.Add(time.Minute), 10, time.Minute); len(got) != 0 {
		t.Errorf("a message to retry later was claimed early: %v", ids(got))
	}
	b, _ := s.OutboxMail(ctx, "b@x")
	if b.Status != store.MailQueued || b.LastError != "451 try later" || !b.NextAttempt.Equal(later.Add(time.Hour)) {
		t.Errorf("b after retry: %+v", b)
	}
	again, _ := s.ClaimMail(ctx, later.Add(2*time.Hour), 10, time.Minute)
	if diff := cmp.Diff([]string{"b@x", "c@x"}, ids(again), cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Fatalf("claim when due (-want +got):\n%s", diff)
	}
	for _, m := range again {
		if m.MessageID == "b@x" {
			if err := s.MarkMailFailed(ctx, m, later, "550 no such user"); err != nil {
				t.Fatal(err)
			}
		}
	}
	if b, _ = s.OutboxMail(ctx, "b@x"); b.Status != store.MailFailed {
		t.Errorf("b after failure: %+v", b)
	}
	if a, _ := s.OutboxMail(ctx, "a@x"); a.Status != store.MailSent {
		t.Errorf("a: %+v", a)
	}
	if err := s.MarkMailSent(ctx, store.OutboxMail{ID: 999999}, now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("marking a missing message: %v", err)
	}
	// Erasing a subscriber erases their mail.
	if err := s.EraseSubscriber(ctx, "nu@example.vn"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a@x", "c@x"} {
		if _, err := s.OutboxMail(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("mail %s of an erased subscriber: %v, want gone", id, err)
		}
	}
	if _, err := s.OutboxMail(ctx, "b@x"); err != nil {
		t.Errorf("mail for nobody in particular went with the erased subscriber: %v", err)
	}
}

func testWindowArticles(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	day := 24 * time.Hour
	put := func(id string, published, stored time.Time, cats ...string) {
		t.Helper()
		a := sample(id, published)
		a.GUID, a.Slug, a.Categories = "tag:"+id, id, nil
		for _, c := range cats {
			a.Categories = append(a.Categories, article.Category{Slug: c, Title: c})
		}
		if _, err := s.SaveArticles(ctx, stored, []article.Article{a}); err != nil {
			t.Fatal(err)
		}
	}
	start := t0        // the last issue's end
	end := t0.Add(day) // this issue's run
	put("in", t0.Add(time.Hour), t0.Add(time.Hour), "thoi-su")
	put("in2", t0.Add(2*time.Hour), t0.Add(2*time.Hour), "kinh-te")
	put("backdated", t0.Add(-3*day), t0.Add(3*time.Hour), "thoi-su")     // old date, stored in the window: news now
	put("ancient", t0.Add(-30*day), t0.Add(4*time.Hour), "thoi-su")      // stored in the window but beyond max_age
	put("before", t0.Add(-time.Hour), t0.Add(-time.Hour), "thoi-su")     // the last issue had it
	put("scheduled", end.Add(time.Hour), t0.Add(5*time.Hour), "thoi-su") // waits for its time
	put("edge", end, end, "thoi-su")                                     // at the run: in
	ids := func(q store.WindowQuery) []string {
		t.Helper()
		list, err := s.WindowArticles(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, a := range list {
			out = append(out, a.ID)
		}
		return out
	}
	base := store.WindowQuery{After: start, Until: end, PublishedSince: end.Add(-7 * day)}
	if diff := cmp.Diff([]string{"edge", "in2", "in", "backdated"}, ids(base)); diff != "" {
		t.Errorf("window (-want +got):\n%s", diff)
	}
	one := base
	one.Categories = []string{"kinh-te"}
	if diff := cmp.Diff([]string{"in2"}, ids(one)); diff != "" {
		t.Errorf("one category (-want +got):\n%s", diff)
	}
	limited := base
	limited.Limit = 2
	if diff := cmp.Diff([]string{"edge", "in2"}, ids(limited)); diff != "" {
		t.Errorf("max_articles (-want +got):\n%s", diff)
	}
	later := store.WindowQuery{After: end.Add(day), Until: end.Add(2 * day), PublishedSince: end}
	if diff := cmp.Diff([]string{"scheduled"}, ids(store.WindowQuery{After: end, Until: end.Add(day), PublishedSince: end.Add(-7 * day)})); diff != "" {
		t.Errorf("the next window holds the scheduled article at its time (-want +got):\n%s", diff)
	}
	if got := ids(later); len(got) != 0 {
		t.Errorf("an empty window: %v", got)
	}
}

func testIssues(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	var subs []store.Subscriber
	for _, email := range []string{"a@example.vn", "b@example.vn", "c@example.vn", "d@example.vn"} {
		sub, err := s.SaveSubscriber(ctx, store.Subscriber{Email: email}, t0)
		if err != nil {
			t.Fatal(err)
		}
		subs = append(subs, sub)
	}
	set := func(i int, list string, st store.SubscriptionStatus) {
		t.Helper()
		if err := s.SetListStatus(ctx, subs[i].ID, list, st, t0); err != nil {
			t.Fatal(err)
		}
	}
	set(0, "sang", store.Confirmed)
	set(1, "sang", store.Confirmed)
	set(2, "sang", store.Pending)      // not yet: no delivery
	set(3, "sang", store.Unsubscribed) // left: no delivery
	set(3, "toi", store.Confirmed)     // another list
	for range 3 {
		if _, err := s.RecordBounce(ctx, subs[1].ID, 3); err != nil { // bounced: no delivery
			t.Fatal(err)
		}
	}
	if _, err := s.LastIssue(ctx, "sang"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("LastIssue of a list without issues: %v, want ErrNotFound", err)
	}
	first := store.Issue{List: "sang", WindowStart: t0, WindowEnd: t0.Add(24 * time.Hour), Subject: "Bản tin sáng số 1",
		HTML: "<p>1</p>", Text: "1", ArticleIDs: []string{"a1", "a2"}, CreatedAt: t0.Add(24 * time.Hour)}
	is, n, err := s.CreateIssue(ctx, first)
	if err != nil {
		t.Fatal(err)
	}
	if is.ID == 0 || is.Number != 1 || n != 1 {
		t.Errorf("first issue: id %d number %d, %d deliveries; want number 1 and one delivery (a)", is.ID, is.Number, n)
	}
	counts, err := s.DeliveryCounts(ctx, is.ID)
	if err != nil || counts[store.DeliveryQueued] != 1 || len(counts) != 1 {
		t.Errorf("delivery counts %v, %v", counts, err)
	}
	// The same window again (a second tick, another process): refused.
	if _, _, err := s.CreateIssue(ctx, first); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second issue for the same window: %v, want ErrConflict", err)
	}
	second := first
	second.WindowStart, second.WindowEnd, second.Subject = first.WindowEnd, first.WindowEnd.Add(24*time.Hour), "Bản tin sáng số 2"
	second.ArticleIDs = nil
	is2, _, err := s.CreateIssue(ctx, second)
	if err != nil || is2.Number != 2 {
		t.Fatalf("second issue: %+v, %v", is2, err)
	}
	// An issue made from the same last issue as the second (a send-now
	// racing the schedule) would repeat its articles: refused.
	stale := second
	stale.WindowEnd = second.WindowEnd.Add(time.Hour)
	if _, _, err := s.CreateIssue(ctx, stale); !errors.Is(err, store.ErrConflict) {
		t.Errorf("an issue that does not start where the last ends: %v, want ErrConflict", err)
	}
	last, err := s.LastIssue(ctx, "sang")
	if err != nil || last.ID != is2.ID || !last.WindowEnd.Equal(second.WindowEnd) || len(last.ArticleIDs) != 0 {
		t.Errorf("LastIssue = %+v, %v", last, err)
	}
	all, err := s.Issues(ctx, "sang")
	if err != nil || len(all) != 2 || all[1].Subject != "Bản tin sáng số 1" || strings.Join(all[1].ArticleIDs, ",") != "a1,a2" || all[1].HTML != "<p>1</p>" {
		t.Errorf("Issues = %+v, %v", all, err)
	}
	if other, _ := s.Issues(ctx, "toi"); len(other) != 0 {
		t.Errorf("issues of another list: %v", other)
	}
	// Claiming: a subscriber added after the issue gets nothing from it; one
	// who leaves before their turn is skipped at once.
	set(2, "sang", store.Confirmed)
	now := t0.Add(25 * time.Hour)
	claimed, err := s.ClaimDeliveries(ctx, is.ID, now, 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(claimed) != 1 || claimed[0].Email != "a@example.vn" || claimed[0].Attempts != 1 {
		t.Fatalf("claimed %+v; want a's delivery", claimed)
	}
	if again, _ := s.ClaimDeliveries(ctx, is.ID, now, 10, time.Minute); len(again) != 0 {
		t.Errorf("a held claim was claimed again: %+v", again)
	}
	if err := s.MarkDelivery(ctx, claimed[0], store.DeliveryQueued, now.Add(time.Minute), "451", now); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivery(ctx, claimed[0], store.DeliverySent, time.Time{}, "", now); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second mark on an ended claim: %v, want ErrConflict", err)
	}
	set(0, "sang", store.Unsubscribed) // a leaves before the retry
	if got, _ := s.ClaimDeliveries(ctx, is.ID, now.Add(2*time.Minute), 10, time.Minute); len(got) != 0 {
		t.Errorf("a delivery to someone who left was claimed: %+v", got)
	}
	if counts, _ := s.DeliveryCounts(ctx, is.ID); counts[store.DeliverySkipped] != 1 {
		t.Errorf("counts %v; want a skipped", counts)
	}
	set(0, "sang", store.Confirmed)
	// Erasing a subscriber erases their deliveries.
	if err := s.EraseSubscriber(ctx, "a@example.vn"); err != nil {
		t.Fatal(err)
	}
	if counts, _ := s.DeliveryCounts(ctx, is.ID); len(counts) != 0 {
		t.Errorf("deliveries of an erased subscriber remain: %v", counts)
	}
}

// testIssueLifecycle follows an issue from creation to sent or cancelled:
// claims carry the subscriber's categories, leases can be extended by
// their holder only, and an issue is finished once nothing is queued.
func testIssueLifecycle(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	start, err := s.ListStart(ctx, "sang", t0)
	if err != nil || !start.Equal(t0) {
		t.Fatalf("ListStart first time = %v, %v; want %v", start, err, t0)
	}
	if again, err := s.ListStart(ctx, "sang", t0.Add(time.Hour)); err != nil || !again.Equal(t0) {
		t.Errorf("ListStart later = %v, %v; want the first %v", again, err, t0)
	}
	var ids []int64
	for i := range 5 {
		sub, err := s.SaveSubscriber(ctx, store.Subscriber{Email: fmt.Sprintf("s%d@example.vn", i), Name: fmt.Sprintf("Người %d", i)}, t0)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.SetListStatus(ctx, sub.ID, "sang", store.Confirmed, t0); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, sub.ID)
	}
	if err := s.SetCategories(ctx, ids[0], []string{"the-thao", "kinh-te"}); err != nil {
		t.Fatal(err)
	}
	is, n, err := s.CreateIssue(ctx, store.Issue{List: "sang", WindowStart: t0, WindowEnd: t0.Add(time.Hour), Subject: "1", HTML: "h", Text: "t", CreatedAt: t0})
	if err != nil || n != 5 {
		t.Fatalf("CreateIssue: %d deliveries, %v", n, err)
	}
	if got, err := s.Issue(ctx, "sang", 1); err != nil || got.ID != is.ID || got.Status != "sending" {
		t.Errorf("Issue(sang, 1) = %+v, %v", got, err)
	}
	if _, err := s.Issue(ctx, "sang", 2); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("Issue(sang, 2) = %v, want ErrNotFound", err)
	}
	if sending, err := s.SendingIssues(ctx); err != nil || len(sending) != 1 || sending[0].ID != is.ID {
		t.Errorf("SendingIssues = %+v, %v", sending, err)
	}
	now := t0.Add(time.Hour)
	claimed, err := s.ClaimDeliveries(ctx, is.ID, now, 2, time.Minute)
	if err != nil || len(claimed) != 2 {
		t.Fatalf("claimed %+v, %v; want 2", claimed, err)
	}
	if c := claimed[0]; c.SubscriberID != ids[0] || c.Name != "Người 0" || strings.Join(c.Categories, ",") != "kinh-te,the-thao" || len(claimed[1].Categories) != 0 {
		t.Errorf("claims carry %+v and %+v; want s0 with kinh-te,the-thao and s1 with none", c, claimed[1])
	}
	// The holder extends its lease; an old claim can no longer mark.
	extended, err := s.ExtendDeliveries(ctx, claimed, now.Add(5*time.Minute))
	if err != nil || len(extended) != 2 || !extended[0].Claim.Equal(now.Add(5*time.Minute)) {
		t.Fatalf("ExtendDeliveries = %+v, %v", extended, err)
	}
	if err := s.MarkDelivery(ctx, claimed[0], store.DeliverySent, time.Time{}, "", now); !errors.Is(err, store.ErrConflict) {
		t.Errorf("mark with the claim before the extension: %v, want ErrConflict", err)
	}
	if stale, _ := s.ExtendDeliveries(ctx, claimed, now.Add(time.Hour)); len(stale) != 0 {
		t.Errorf("an old claim was extended: %+v", stale)
	}
	// Past the first lease but within the extension: not claimable.
	inFlight, err := s.ClaimDeliveries(ctx, is.ID, now.Add(2*time.Minute), 2, time.Minute)
	if err != nil || len(inFlight) != 2 || inFlight[0].SubscriberID != ids[2] {
		t.Fatalf("claim after the first lease: %+v, %v; want s2 and s3", inFlight, err)
	}
	if err := s.MarkDelivery(ctx, inFlight[0], store.DeliverySent, time.Time{}, "", now); err != nil {
		t.Fatal(err)
	}
	if err := s.MarkDelivery(ctx, extended[0], store.DeliverySent, time.Time{}, "", now); err != nil {
		t.Errorf("mark with the extended claim: %v", err)
	}
	// A reason as a relay wrote it, in Latin-1 with a NUL: stored anyway.
	if err := s.MarkDelivery(ctx, extended[1], store.DeliverySkipped, time.Time{}, "550 Empf\xe4nger unbekannt\x00", now); err != nil {
		t.Errorf("mark with a reason that is not UTF-8: %v", err)
	}
	if done, err := s.FinishIssue(ctx, is.ID, now); err != nil || done {
		t.Errorf("FinishIssue with deliveries queued = %v, %v; want false", done, err)
	}
	if depth, err := s.QueueDepth(ctx); err != nil || depth != 2 {
		t.Errorf("QueueDepth with s3 and s4 queued = %d, %v; want 2", depth, err)
	}
	if counts, err := s.SubscriberCounts(ctx); err != nil || counts["confirmed"] != 5 || counts["bounced"] != 0 {
		t.Errorf("SubscriberCounts = %v, %v; want 5 confirmed, 0 bounced", counts, err)
	}
	// Cancel: s4, queued and not in flight, is dropped at once; s3, in
	// flight, may still be marked by its sender.
	cancelled, dropped, err := s.CancelIssue(ctx, "sang", now.Add(2*time.Minute))
	if err != nil || cancelled.ID != is.ID || cancelled.Status != "cancelled" || dropped != 1 {
		t.Errorf("CancelIssue = %+v, %d dropped, %v; want issue 1 cancelled, 1 dropped", cancelled, dropped, err)
	}
	counts, _ := s.DeliveryCounts(ctx, is.ID)
	if counts[store.DeliverySent] != 2 || counts[store.DeliverySkipped] != 2 || counts[store.DeliveryQueued] != 1 {
		t.Errorf("counts after cancel: %v; want 2 sent, 2 skipped, 1 queued (in flight)", counts)
	}
	// The sender of s3 learns of the cancel when it renews its claim.
	if kept, err := s.ExtendDeliveries(ctx, inFlight[1:], now.Add(4*time.Minute)); err != nil || len(kept) != 0 {
		t.Errorf("a cancelled issue's claim was extended: %+v, %v", kept, err)
	}
	if err := s.MarkDelivery(ctx, inFlight[1], store.DeliverySent, time.Time{}, "", now.Add(2*time.Minute)); err != nil {
		t.Errorf("the send in flight at the cancel could not be marked: %v", err)
	}
	if got, _ := s.ClaimDeliveries(ctx, is.ID, now.Add(time.Hour), 10, time.Minute); len(got) != 0 {
		t.Errorf("a cancelled issue's deliveries were claimed: %+v", got)
	}
	if _, _, err := s.CancelIssue(ctx, "sang", now); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("cancel with nothing being sent: %v, want ErrNotFound", err)
	}
	if sending, _ := s.SendingIssues(ctx); len(sending) != 0 {
		t.Errorf("a cancelled issue is still being sent: %+v", sending)
	}
	if got, _ := s.Issue(ctx, "sang", 1); got.Status != "cancelled" {
		t.Errorf("status after cancel %q", got.Status)
	}

	// A second issue runs to the end and is finished.
	is2, n, err := s.CreateIssue(ctx, store.Issue{List: "sang", WindowStart: t0.Add(time.Hour), WindowEnd: t0.Add(2 * time.Hour), Subject: "2", HTML: "h", Text: "t", CreatedAt: t0})
	if err != nil || n != 5 {
		t.Fatal(n, err)
	}
	later := now.Add(2 * time.Hour)
	for {
		got, err := s.ClaimDeliveries(ctx, is2.ID, later, 2, time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) == 0 {
			break
		}
		// One transaction for the batch; a stale claim among them fails
		// alone.
		marks := []store.DeliveryMark{{Delivery: store.Delivery{IssueID: is2.ID, SubscriberID: got[0].SubscriberID, Claim: later}, Status: store.DeliverySent}}
		for _, d := range got {
			marks = append(marks, store.DeliveryMark{Delivery: d, Status: store.DeliverySent})
		}
		errs, err := s.MarkDeliveries(ctx, marks, later)
		if err != nil {
			t.Fatal(err)
		}
		if !errors.Is(errs[0], store.ErrConflict) {
			t.Errorf("a mark with a stale claim in a batch: %v, want ErrConflict", errs[0])
		}
		for i, err := range errs[1:] {
			if err != nil {
				t.Errorf("mark %d of the batch: %v", i+1, err)
			}
		}
	}
	if done, err := s.FinishIssue(ctx, is2.ID, later); err != nil || !done {
		t.Errorf("FinishIssue after every delivery = %v, %v; want true", done, err)
	}
	if got, _ := s.Issue(ctx, "sang", 2); got.Status != "sent" {
		t.Errorf("status after finishing %q, want sent", got.Status)
	}
}

// testSourceStates: an upstream feed's state is kept whole and replaced
// whole; a source never polled has zero times.
func testSourceStates(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	if got, err := s.SourceStates(ctx); err != nil || len(got) != 0 {
		t.Fatalf("SourceStates of a new store = %v, %v", got, err)
	}
	first := store.SourceState{Name: "tinh", URL: "https://tinh.example/rss", FetchURL: "https://tinh.example/rss"}
	if err := s.SaveSourceState(ctx, first); err != nil {
		t.Fatal(err)
	}
	polled := store.SourceState{Name: "tinh", URL: "https://tinh.example/rss", FetchURL: "https://moi.tinh.example/rss",
		ETag: `"abc"`, LastModified: "Thu, 28 Mar 2024 01:00:00 GMT", LastFetch: t0, LastStatus: 200, Failures: 0,
		NextPoll: t0.Add(30 * time.Minute), Entries: 50}
	other := store.SourceState{Name: "huyen", URL: "https://huyen.example/feed.json", FetchURL: "https://huyen.example/feed.json",
		LastFetch: t0, LastStatus: 503, LastError: "503 Service Unavailable", Failures: 2, NextPoll: t0.Add(time.Hour)}
	for _, st := range []store.SourceState{polled, other} {
		if err := s.SaveSourceState(ctx, st); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.SourceStates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]store.SourceState{other, polled}, got); diff != "" {
		t.Errorf("SourceStates (-want +got):\n%s", diff)
	}
	// An error as a server wrote it (Latin-1, a NUL) is stored anyway.
	bad := other
	bad.LastError = "503 Dienst nicht verf\xfcgbar\x00"
	if err := s.SaveSourceState(ctx, bad); err != nil {
		t.Errorf("a state with an error that is not UTF-8: %v", err)
	}
}

// testLeases: one holder at a time; the holder renews; a lease that ran
// out or was released goes to the next asker.
func testLeases(t *testing.T, h Harness) {
	ctx := context.Background()
	s := h.New(t)
	take := func(holder string, now time.Time) bool {
		t.Helper()
		ok, err := s.AcquireLease(ctx, "scheduler", holder, now, 10*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		return ok
	}
	if !take("a", t0) {
		t.Fatal("a free lease was refused")
	}
	if take("b", t0.Add(5*time.Second)) {
		t.Error("b took a lease a holds")
	}
	if !take("a", t0.Add(8*time.Second)) {
		t.Error("a could not renew its lease")
	}
	if take("b", t0.Add(15*time.Second)) {
		t.Error("b took the lease before a's renewal ran out")
	}
	if !take("b", t0.Add(19*time.Second)) {
		t.Error("b could not take a lease that ran out")
	}
	if take("a", t0.Add(20*time.Second)) {
		t.Error("a took back a lease b holds")
	}
	if err := s.ReleaseLease(ctx, "scheduler", "a"); err != nil {
		t.Fatal(err)
	}
	if take("a", t0.Add(21*time.Second)) {
		t.Error("a release by a non-holder freed the lease")
	}
	if err := s.ReleaseLease(ctx, "scheduler", "b"); err != nil {
		t.Fatal(err)
	}
	if !take("a", t0.Add(22*time.Second)) {
		t.Error("a released lease was refused")
	}
	if ok, err := s.AcquireLease(ctx, "other", "b", t0, time.Second); err != nil || !ok {
		t.Errorf("a lease of another name: %v, %v", ok, err)
	}
}
