package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/ingest"
	"github.com/bantin/bantin/internal/store"
)

// apiArticle is an article as the admin API shows it.
type apiArticle struct {
	ID          string        `json:"id"`
	GUID        string        `json:"guid"`
	Slug        string        `json:"slug"`
	Link        string        `json:"link"`
	Title       string        `json:"title"`
	URL         string        `json:"url,omitempty"`
	Author      string        `json:"author,omitempty"`
	Categories  []apiCategory `json:"categories"`
	Summary     string        `json:"summary,omitempty"`
	ContentHTML string        `json:"content_html,omitempty"`
	Image       *apiImage     `json:"image,omitempty"`
	PublishedAt string        `json:"published_at"`
	UpdatedAt   string        `json:"updated_at"`
	StoredAt    string        `json:"stored_at"`
	Scheduled   bool          `json:"scheduled"`
}

type apiCategory struct {
	Slug  string `json:"slug"`
	Title string `json:"title"`
}

type apiImage struct {
	URL     string `json:"url,omitempty"`
	Caption string `json:"caption,omitempty"`
	Type    string `json:"type,omitempty"`
	Length  int64  `json:"length,omitempty"`
}

func (s *Server) toAPI(a article.Article, withContent bool) apiArticle {
	loc := s.opts.Site.Location
	out := apiArticle{
		ID: a.ID, GUID: a.GUID, Slug: a.Slug, Link: a.Link(s.opts.Site.BaseURL), Title: a.Title, URL: a.URL, Author: a.Author,
		Categories:  []apiCategory{},
		Summary:     a.Summary,
		PublishedAt: a.PublishedAt.In(loc).Format(time.RFC3339),
		UpdatedAt:   a.UpdatedAt.In(loc).Format(time.RFC3339),
		StoredAt:    a.StoredAt.In(loc).Format(time.RFC3339),
		Scheduled:   a.ScheduledAt(s.opts.Now()),
	}
	if withContent {
		out.ContentHTML = a.ContentHTML
	}
	for _, c := range a.Categories {
		out.Categories = append(out.Categories, apiCategory{Slug: c.Slug, Title: c.Title})
	}
	if a.Image != nil {
		out.Image = &apiImage{URL: a.Image.URL, Caption: a.Image.Caption, Type: a.Image.Type, Length: a.Image.Length}
	}
	return out
}

type savedArticle struct {
	Index   int    `json:"index"`
	ID      string `json:"id"`
	Slug    string `json:"slug,omitempty"`
	GUID    string `json:"guid,omitempty"`
	Outcome string `json:"outcome"`
}

type saveResponse struct {
	Created   int            `json:"created"`
	Updated   int            `json:"updated"`
	Unchanged int            `json:"unchanged"`
	Articles  []savedArticle `json:"articles"`
}

// apiSaveArticles creates or updates one article or an array of them. A
// request is all or nothing: one bad article refuses the whole request,
// naming its index and field, and nothing is written.
// observeIngest tells the metrics of an article through the API.
func (s *Server) observeIngest(result string) {
	if s.opts.ObserveIngest != nil {
		s.opts.ObserveIngest(result)
	}
}

func (s *Server) apiSaveArticles(w http.ResponseWriter, r *http.Request) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes))
	if err != nil {
		return err
	}
	raws, single, err := splitBatch(body)
	if err != nil {
		return err
	}
	now := s.opts.Now()
	inputs := make([]article.Input, len(raws))
	ids := make([]string, len(raws))
	hashes := make([]string, len(raws))
	for i, raw := range raws {
		in, err := ingest.DecodeJSON(raw)
		if err != nil {
			return batchError(i, single, err)
		}
		inputs[i] = in
		ids[i], hashes[i] = s.opts.Normalizer.Key(in)
	}
	stored, err := s.opts.Store.ArticleHashes(r.Context(), ids)
	if err != nil {
		return err
	}
	resp := saveResponse{Articles: make([]savedArticle, len(raws))}
	var toSave []article.Article
	var positions []int
	seen := map[string]bool{}
	for i, in := range inputs {
		resp.Articles[i] = savedArticle{Index: i, ID: ids[i], Outcome: store.Unchanged.String()}
		// The stored hash says nothing of an id this request already
		// changed: a later version of it is always saved, in order.
		if stored[ids[i]] == hashes[i] && !seen[ids[i]] {
			continue
		}
		seen[ids[i]] = true
		a, err := s.opts.Normalizer.Normalize(in, now)
		if err != nil {
			s.observeIngest("rejected")
			return batchError(i, single, err)
		}
		toSave = append(toSave, a)
		positions = append(positions, i)
	}
	if len(toSave) > 0 {
		saved, err := s.opts.Store.SaveArticles(r.Context(), now, toSave)
		if err != nil {
			return err
		}
		for j, sv := range saved {
			resp.Articles[positions[j]] = savedArticle{Index: positions[j], ID: sv.ID, Slug: sv.Slug, GUID: sv.GUID, Outcome: sv.Outcome.String()}
		}
	}
	status := http.StatusOK
	for _, a := range resp.Articles {
		s.observeIngest(a.Outcome)
		switch a.Outcome {
		case store.Created.String():
			resp.Created++
			status = http.StatusCreated
		case store.Updated.String():
			resp.Updated++
		default:
			resp.Unchanged++
		}
	}
	if single && status == http.StatusCreated {
		w.Header().Set("Location", "/api/v1/articles/"+url.PathEscape(resp.Articles[0].ID))
	}
	writeJSON(w, status, resp)
	return nil
}

// splitBatch returns the raw article objects of a body: one object or an
// array of them.
func splitBatch(body []byte) (raws []json.RawMessage, single bool, err error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, false, &Error{Status: http.StatusBadRequest, Message: "empty body; send an article object or an array of them"}
	}
	if trimmed[0] != '[' {
		return []json.RawMessage{trimmed}, true, nil
	}
	if err := json.Unmarshal(trimmed, &raws); err != nil {
		return nil, false, &Error{Status: http.StatusBadRequest, Message: "not a JSON array of article objects: " + err.Error()}
	}
	if len(raws) == 0 {
		return nil, false, &Error{Status: http.StatusBadRequest, Message: "empty array; send at least one article"}
	}
	return raws, false, nil
}

func batchError(i int, single bool, err error) error {
	e := &Error{Status: http.StatusBadRequest, Message: err.Error()}
	if fe, ok := err.(*article.FieldError); ok {
		e.Field = fe.Field
	}
	if !single {
		index := i
		e.Index = &index
		e.Message = fmt.Sprintf("articles[%d]: %s; nothing was saved", i, e.Message)
		if e.Field != "" {
			e.Field = fmt.Sprintf("articles[%d].%s", i, e.Field)
		}
	}
	return e
}

// apiListArticles lists articles, scheduled ones included and marked.
func (s *Server) apiListArticles(w http.ResponseWriter, r *http.Request) error {
	q := store.ArticleQuery{Category: r.URL.Query().Get("category"), Limit: 50, IncludeScheduled: true}
	if q.Category != "" && s.opts.Normalizer != nil {
		// A title finds its category as an article's would ("Kinh tế");
		// a name with no slug finds nothing, as it did.
		if slug := s.opts.Normalizer.CategoryOf(q.Category).Slug; slug != "" {
			q.Category = slug
		}
	}
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return &Error{Status: http.StatusBadRequest, Message: "limit must be a whole number from 1 to 1000", Field: "limit"}
		}
		q.Limit = n
	}
	list, err := s.opts.Store.Articles(r.Context(), q)
	if err != nil {
		return err
	}
	out := make([]apiArticle, 0, len(list))
	for _, a := range list {
		out = append(out, s.toAPI(a, false))
	}
	writeJSON(w, http.StatusOK, map[string]any{"articles": out})
	return nil
}

func (s *Server) apiGetArticle(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	a, err := s.opts.Store.Article(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no article with id %q", id)}
	}
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, s.toAPI(a, true))
	return nil
}

func (s *Server) apiDeleteArticle(w http.ResponseWriter, r *http.Request) error {
	id := r.PathValue("id")
	err := s.opts.Store.DeleteArticle(r.Context(), id)
	if errors.Is(err, store.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Message: fmt.Sprintf("no article with id %q", id)}
	}
	if err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
