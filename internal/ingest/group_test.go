package ingest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// heldStore holds the first save until the workers have looked up most
// chunks, so that the writer finds several ready at once, and counts the
// transactions.
type heldStore struct {
	ArticleStore
	articleLister
	lookups, saves atomic.Int32
	holdUntil      int32
	once           sync.Once
}

func (h *heldStore) KnownSources(ctx context.Context, hashes []string) (map[string]string, error) {
	h.lookups.Add(1)
	return h.ArticleStore.KnownSources(ctx, hashes)
}

func (h *heldStore) SaveArticles(ctx context.Context, now time.Time, articles []article.Article) ([]store.Saved, error) {
	h.once.Do(func() {
		deadline := time.Now().Add(5 * time.Second)
		for h.lookups.Load() < h.holdUntil && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond) // for the last chunks to be normalized
	})
	h.saves.Add(1)
	return h.ArticleStore.SaveArticles(ctx, now, articles)
}

// TestImportGroupsEqualChunks: chunks saved together in one transaction
// give what each saved in its own gives (results, slugs and their -2
// order, the stored articles), over the hostile lines imported, again,
// and edited, where ids come back in later chunks.
func TestImportGroupsEqualChunks(t *testing.T) {
	lines := hostileLines()
	chunks := (len(lines) + parallelBatch - 1) / parallelBatch
	run := func(maxGroup int) ([]importOutcome, int32) {
		st := openStore(t)
		h := &heldStore{ArticleStore: st, articleLister: st, holdUntil: int32(min(chunks, 2*4+1))}
		outcomes := runImportsWith(t, h, 4, lines, func(im *Importer) { im.maxGroup = maxGroup })
		return outcomes, h.saves.Load()
	}
	single, singleSaves := run(1)
	grouped, groupedSaves := run(maxGroup)
	for i := range single {
		if diff := cmp.Diff(single[i], grouped[i]); diff != "" {
			t.Errorf("import %d: chunks saved together differ from one by one (-one +together):\n%s", i+1, diff)
		}
	}
	// Three imports of the same chunks: fewer transactions, or the test
	// tested nothing.
	if groupedSaves >= singleSaves {
		t.Errorf("%d transactions with chunks saved together, %d one by one; want fewer", groupedSaves, singleSaves)
	}
	t.Logf("%d chunks per import; transactions: %d one by one, %d together", chunks, singleSaves, groupedSaves)
}
