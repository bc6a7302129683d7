package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/bantin/bantin/internal/feed"
)

// feedHandler serves /feeds/[{category}/][page/{n}/]{file}. Page 1 lives
// at the path without page/ and /page/1/ redirects there, so each document
// has one URL.
func (s *Server) feedHandler(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Feeds == nil {
		return &Error{Status: http.StatusNotFound, Message: "not found"}
	}
	category := r.PathValue("category")
	kind, ok := feed.KindOf(r.PathValue("file"))
	if !ok || category == "page" {
		return &Error{Status: http.StatusNotFound, Message: "not found"}
	}
	page := 1
	if v := r.PathValue("n"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || strconv.Itoa(n) != v {
			return &Error{Status: http.StatusNotFound, Message: "not found"}
		}
		if n == 1 {
			http.Redirect(w, r, feed.Path(category, 1, kind), http.StatusMovedPermanently)
			return nil
		}
		page = n
	}
	doc, err := s.opts.Feeds.Get(r.Context(), category, page, kind)
	if errors.Is(err, feed.ErrNotFound) {
		return &Error{Status: http.StatusNotFound, Message: "not found"}
	}
	if err != nil {
		return err
	}
	s.writeRendered(w, r, doc)
	return nil
}

func (s *Server) opmlHandler(w http.ResponseWriter, r *http.Request) error {
	if s.opts.Feeds == nil {
		return &Error{Status: http.StatusNotFound, Message: "not found"}
	}
	doc, err := s.opts.Feeds.OPML(r.Context())
	if err != nil {
		return err
	}
	s.writeRendered(w, r, doc)
	return nil
}

// writeRendered sends a cached document: gzip when the client takes it,
// 304 when its copy is current, headers only for HEAD. The headers were
// built with the document; the Link header names its hubs.
func (s *Server) writeRendered(w http.ResponseWriter, r *http.Request, doc *feed.Rendered) {
	h := w.Header()
	if notModified(r, doc) {
		for k, v := range doc.NotModifiedHeader {
			h[k] = v
		}
		tag := doc.ETag
		if acceptsGzip(r.Header.Get("Accept-Encoding")) {
			tag = doc.GzipETag
		}
		h["Etag"] = []string{tag}
		w.WriteHeader(http.StatusNotModified)
		return
	}
	body, header := doc.Body, doc.IdentityHeader
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, header = doc.Gzip, doc.GzipHeader
	}
	for k, v := range header {
		h[k] = v
	}
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(body)
}

// notModified applies RFC 9110 §13.1: If-None-Match decides when present
// (either representation's tag matches), else If-Modified-Since.
func notModified(r *http.Request, doc *feed.Rendered) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if inm == doc.ETag || inm == doc.GzipETag {
			return true
		}
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/")
			if t == "*" || t == doc.ETag || t == doc.GzipETag {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !doc.LastModified.After(t) {
			return true
		}
	}
	return false
}

// acceptsGzip reads Accept-Encoding enough to honour "gzip;q=0".
func acceptsGzip(header string) bool {
	if !strings.Contains(header, "gzip") && !strings.Contains(header, "*") {
		return false
	}
	if !strings.Contains(header, "q=") {
		return true
	}
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(strings.TrimSpace(part), ";")
		if !strings.EqualFold(strings.TrimSpace(name), "gzip") && strings.TrimSpace(name) != "*" {
			continue
		}
		q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
		return q != "q=0" && q != "q=0.0" && q != "q=0.00" && q != "q=0.000"
	}
	return false
}
