package ingest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/store"
)

// ArticleStore is what an import needs from the store.
type ArticleStore interface {
	KnownSources(ctx context.Context, sourceHashes []string) (map[string]string, error)
	ArticleHashes(ctx context.Context, ids []string) (map[string]string, error)
	// ArticleCategories: a file adds to the categories stored.
	ArticleCategories(ctx context.Context, ids []string) (map[string][]string, error)
	SaveArticles(ctx context.Context, now time.Time, articles []article.Article) ([]store.Saved, error)
}

// Origin says where an input came from, for messages a person can act on.
type Origin struct {
	Path string // a file path, "-" for standard input, or "api"
	Line int    // 1-based; 0 when the whole file is one article
}

func (o Origin) String() string {
	if o.Line == 0 {
		return o.Path
	}
	return fmt.Sprintf("%s:%d", o.Path, o.Line)
}

// Result is what happened to one input.
type Result struct {
	Origin  Origin
	ID      string
	Slug    string
	Outcome store.Outcome
	Err     error // set when the input was rejected
}

// Summary counts the results of an import.
type Summary struct {
	Created, Updated, Unchanged, Rejected int
}

// Total is the number of inputs seen.
func (s Summary) Total() int { return s.Created + s.Updated + s.Unchanged + s.Rejected }

func (s *Summary) add(r Result) {
	switch {
	case r.Err != nil:
		s.Rejected++
	case r.Outcome == store.Created:
		s.Created++
	case r.Outcome == store.Updated:
		s.Updated++
	default:
		s.Unchanged++
	}
}

// Importer runs batches of inputs through parsing, normalization and the
// store. Parsing and sanitizing run on every core; one writer saves in
// batched transactions; inputs whose hash is already stored skip the costly
// work entirely.
type Importer struct {
	normalizer *article.Normalizer
	store      ArticleStore
	location   *time.Location
	now        func() time.Time
	workers    int
	batchSize  int
	maxGroup   int // articles of one transaction of several chunks
	observe    func(Result)
	images     *ImageLookup
}

// ImporterOptions configures an Importer.
type ImporterOptions struct {
	Normalizer *article.Normalizer
	Store      ArticleStore
	Location   *time.Location // site.timezone, for page date lines
	Now        func() time.Time
	Workers    int // default: the number of CPUs
	// BatchSize: inputs per chunk of parallel work; default 500. A
	// transaction takes one chunk, or several ready together (maxGroup).
	BatchSize int
	// Observe is told every result (metrics); nil for none.
	Observe func(Result)
	// Images learns the length of images given without one
	// (ingest.image_lookup); nil for no lookups.
	Images *ImageLookup
}

// NewImporter builds an Importer.
func NewImporter(opts ImporterOptions) *Importer {
	im := &Importer{
		normalizer: opts.Normalizer,
		store:      opts.Store,
		location:   opts.Location,
		now:        opts.Now,
		workers:    opts.Workers,
		batchSize:  opts.BatchSize,
		maxGroup:   maxGroup,
		observe:    opts.Observe,
		images:     opts.Images,
	}
	if im.now == nil {
		im.now = time.Now
	}
	if im.workers <= 0 {
		im.workers = runtime.GOMAXPROCS(0)
	}
	if im.batchSize <= 0 {
		im.batchSize = 500
	}
	return im
}

// record is one raw input waiting to be parsed: the unit of parallel work.
type record struct {
	format Format
	data   []byte
	origin Origin
	// category is added to the article's categories (bantin ingest --category).
	category string
	// keepCategories: the record is a file's, which adds categories to
	// those stored and never removes one (see mergeCategories).
	keepCategories bool
}

// chunk is a run of records with its place in the stream, so the writer
// can save chunks in the order they were read.
type chunk struct {
	seq      int
	records  []record
	articles []article.Article
	results  []Result // one per record; Err set for rejected ones
	keep     []int    // indexes of records whose article must be saved
	sources  []string // the source hash of each record
	skipped  []bool   // records found unchanged before they were normalized
	// storedCats are the stored category slugs of the chunk's file
	// records, by id, as read before any was saved.
	storedCats map[string][]string
}

// Run imports every record that produce sends, calling report for each
// result in input order. It returns the summary and the first error that
// stopped the import (a store failure), not per-article rejections.
func (im *Importer) Run(ctx context.Context, produce func(ctx context.Context, emit func(record) error) error, report func(Result)) (Summary, error) {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)

	parsed := make(chan *chunk, im.workers)
	raw := make(chan *chunk, im.workers)

	// Reader: group records into chunks.
	var readErr error
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer close(raw)
		seq := 0
		current := &chunk{seq: seq}
		flush := func() error {
			if len(current.records) == 0 {
				return nil
			}
			select {
			case raw <- current:
			case <-ctx.Done():
				return context.Cause(ctx)
			}
			seq++
			current = &chunk{seq: seq}
			return nil
		}
		readErr = produce(ctx, func(r record) error {
			current.records = append(current.records, r)
			if len(current.records) >= im.batchSize {
				return flush()
			}
			return nil
		})
		if readErr == nil {
			readErr = flush()
		}
	}()

	// Workers: parse, skip unchanged, normalize.
	var wg sync.WaitGroup
	for range im.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c := range raw {
				if err := im.prepare(ctx, c); err != nil {
					cancel(err)
					return
				}
				select {
				case parsed <- c:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	go func() { wg.Wait(); close(parsed) }()

	// Writer: save chunks in order, those ready together in one
	// transaction (see saveGroup).
	var summary Summary
	touched := map[string]bool{} // ids this run created or updated
	pending := map[int]*chunk{}
	next := 0
	var writeErr error
	var group []*chunk
	groupIDs := map[string]bool{} // ids the group's chunks save
	groupSize := 0
	flush := func() error {
		defer func() { group, groupSize = group[:0], 0; clear(groupIDs) }()
		if err := im.saveGroup(ctx, group, touched); err != nil {
			return err
		}
		for _, c := range group {
			for _, r := range c.results {
				summary.add(r)
				if report != nil {
					report(r)
				}
				if im.observe != nil {
					im.observe(r)
				}
			}
		}
		return nil
	}
	for c := range parsed {
		if writeErr != nil {
			continue
		}
		pending[c.seq] = c
		// Take every chunk that is ready now, without waiting.
	ready:
		for {
			select {
			case c, ok := <-parsed:
				if !ok {
					break ready
				}
				pending[c.seq] = c
			default:
				break ready
			}
		}
		for writeErr == nil {
			c, ok := pending[next]
			if !ok {
				break
			}
			delete(pending, next)
			next++
			// A chunk that would re-save an id an earlier chunk of the
			// group saves waits for that save's outcome (touched).
			if len(group) > 0 && (groupSize+len(c.keep) > im.maxGroup || rereads(c, groupIDs, touched)) {
				writeErr = flush()
			}
			if writeErr == nil {
				im.collect(ctx, c, touched)
				group = append(group, c)
				groupSize += len(c.articles)
				for _, a := range c.articles {
					groupIDs[a.ID] = true
				}
			}
		}
		if writeErr == nil && len(group) > 0 {
			writeErr = flush()
		}
		if writeErr != nil {
			cancel(writeErr)
		}
	}
	<-readDone
	// The first failure is the one to report: a worker's store error, not
	// the "context canceled" it caused in the writer.
	cause := context.Cause(ctx)
	if cause != nil && !errors.Is(cause, context.Canceled) {
		if writeErr == nil || errors.Is(writeErr, context.Canceled) {
			return summary, cause
		}
	}
	switch {
	case writeErr != nil:
		return summary, writeErr
	case readErr != nil:
		return summary, readErr
	}
	return summary, ctx.Err()
}

// prepare parses and normalizes one chunk on a worker. Two checks spare
// unchanged input the costly work: bytes already stored are not even
// decoded, and decoded input whose hash is stored is not sanitized.
func (im *Importer) prepare(ctx context.Context, c *chunk) error {
	c.results = make([]Result, len(c.records))
	sources := make([]string, len(c.records))
	for i, r := range c.records {
		c.results[i].Origin = r.origin
		if r.format != formatBroken {
			sources[i] = im.sourceHash(r)
		}
	}
	known, err := im.store.KnownSources(ctx, sources)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}

	inputs := make([]article.Input, len(c.records))
	ids := make([]string, 0, len(c.records))
	hashes := make([]string, len(c.records))
	skip := make([]bool, len(c.records))
	c.sources, c.skipped = sources, skip
	for i, r := range c.records {
		// A file's bytes seen before say nothing of a --category it
		// adds now: that one is compared with the stored categories.
		if id, ok := known[sources[i]]; ok && sources[i] != "" && (!r.keepCategories || r.category == "") {
			c.results[i].ID, c.results[i].Outcome, skip[i] = id, store.Unchanged, true
			continue
		}
		in, err := parseRecord(r, im.location)
		if err != nil {
			c.results[i].Err = err
			continue
		}
		if !r.keepCategories {
			in = withCategory(in, r.category)
		}
		inputs[i] = in
		id, hash := im.normalizer.Key(in)
		c.results[i].ID = id
		hashes[i] = hash
		ids = append(ids, id)
	}
	stored, err := im.store.ArticleHashes(ctx, ids)
	if err != nil {
		return fmt.Errorf("import: %w", err)
	}
	if err := im.mergeCategories(ctx, c, inputs, hashes, stored); err != nil {
		return err
	}
	now := im.now()
	for i := range c.records {
		if c.results[i].Err != nil || skip[i] {
			continue
		}
		if stored[c.results[i].ID] == hashes[i] {
			c.results[i].Outcome = store.Unchanged
			skip[i] = true
			continue
		}
		// hashes[i] counts a file's categories merged in (mergeCategories).
		a, err := im.normalizer.NormalizeKeyed(inputs[i], c.results[i].ID, hashes[i], now)
		if err != nil {
			c.results[i].Err = err
			continue
		}
		a.SourceHash = sources[i]
		c.articles = append(c.articles, a)
		c.keep = append(c.keep, i)
	}
	// On the workers, so that lookups overlap the writes of other chunks.
	im.images.Fill(ctx, c.articles)
	return nil
}

// withCategory adds the category every record of an import gets
// (bantin ingest --category).
func withCategory(in article.Input, category string) article.Input {
	if category != "" {
		in.Categories = append(in.Categories, category)
	}
	return in
}

// sourceHash names a record's exact bytes under the current rules. A
// file's --category is left out: a file only adds categories, so the same
// bytes again without one change nothing (see mergeCategories).
func (im *Importer) sourceHash(r record) string {
	category := r.category
	if r.keepCategories {
		category = ""
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00%s\x00", im.normalizer.Fingerprint(), r.format, category)
	h.Write(r.data)
	return hex.EncodeToString(h.Sum(nil))
}

// maxGroup bounds the articles of one transaction when the writer takes
// several ready chunks together. Each commit writes every page the batch
// dirtied, and in a bulk import that is a leaf of each index (id, GUID,
// slug, source hash, category links) for most articles: four chunks per
// commit write those leaves a quarter as often.
const maxGroup = 2000

// rereads reports a chunk with a skipped input of an id the group saves:
// whether it is saved again depends on the outcome of that save.
func rereads(c *chunk, groupIDs, touched map[string]bool) bool {
	for i, r := range c.results {
		if r.Err == nil && c.skipped[i] && groupIDs[r.ID] && !touched[r.ID] {
			return true
		}
	}
	return false
}

// saveGroup writes the articles of chunks collected in order in one
// transaction: all or none of them are stored.
func (im *Importer) saveGroup(ctx context.Context, group []*chunk, touched map[string]bool) error {
	var articles []article.Article
	for _, c := range group {
		articles = append(articles, c.articles...)
	}
	if len(articles) == 0 {
		return nil
	}
	saved, err := im.store.SaveArticles(ctx, im.now(), articles)
	if err != nil {
		for _, c := range group {
			if len(c.keep) > 0 {
				return fmt.Errorf("import: saving the batch starting at %s: %w", c.records[c.keep[0]].origin, err)
			}
		}
		return fmt.Errorf("import: %w", err)
	}
	for _, c := range group {
		for j, s := range saved[:len(c.keep)] {
			r := &c.results[c.keep[j]]
			r.ID, r.Slug, r.Outcome = s.ID, s.Slug, s.Outcome
			if s.Outcome != store.Unchanged {
				touched[s.ID] = true
			}
		}
		saved = saved[len(c.keep):]
	}
	return nil
}

// collect sets the articles of one chunk to save. Inputs skipped as
// unchanged were compared with the store as it was before this run; when
// an earlier input of the run changed the same article, the skipped one is
// the later version and is saved after all.
func (im *Importer) collect(ctx context.Context, c *chunk, touched map[string]bool) {
	var articles []article.Article
	var keep []int
	inBatch := map[string]bool{}
	next := 0
	for i := range c.records {
		if next < len(c.keep) && c.keep[next] == i {
			articles = append(articles, c.articles[next])
			keep = append(keep, i)
			inBatch[c.articles[next].ID] = true
			next++
			continue
		}
		r := &c.results[i]
		if r.Err != nil || !c.skipped[i] || !(touched[r.ID] || inBatch[r.ID]) {
			continue
		}
		in, err := parseRecord(c.records[i], im.location)
		if err == nil {
			var a article.Article
			hash := ""
			if rec := c.records[i]; rec.keepCategories {
				_, own := im.normalizer.Key(in)
				in, hash = im.withFileCategories(in, own, rec.category, c.storedCats[r.ID], im.slugOf)
			} else {
				in = withCategory(in, rec.category)
			}
			if a, err = im.normalizer.Normalize(in, im.now()); err == nil {
				if hash != "" {
					a.InputHash = hash
				}
				a.SourceHash = c.sources[i]
				articles = append(articles, a)
				keep = append(keep, i)
				inBatch[a.ID] = true
				continue
			}
		}
		r.Err = err
	}
	c.articles, c.keep = articles, keep
	// Articles normalized again here have not been looked up; the rest
	// are skipped or answered from the cache.
	im.images.Fill(ctx, c.articles)
}
