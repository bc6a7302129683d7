package web

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The Cache-Control of HTML pages, as the feeds': a page that anyone may
// see and that changes (home, article, archive, issue, the empty sign-up
// form) may be kept by a cache, which asks each time (its ETag spares the
// bytes); a page whose URL carries a token, or that answers a form, is
// kept by no one.
const (
	cachePublic  = "public, no-cache"
	cachePrivate = "no-store"
)

// minGzipBytes is the size under which a page is sent as it is: gzip's
// header and the work cost more than they save.
const minGzipBytes = 512

// writePage renders the page template name and sends it with status: gzip
// when the client takes it, and for a public page an ETag (a hash of the
// bytes sent) that answers If-None-Match with 304. The Content-Type and
// Cache-Control are set here; the caller sets the page's CSP.
func (s *Server) writePage(w http.ResponseWriter, r *http.Request, status int, cache, name string, data any) error {
	var buf bytes.Buffer
	if err := s.opts.Templates.RenderPage(&buf, name, data); err != nil {
		return err
	}
	return s.writeHTML(w, r, status, cache, buf.Bytes())
}

// writeHTML sends an HTML document as writePage does.
func (s *Server) writeHTML(w http.ResponseWriter, r *http.Request, status int, cache string, body []byte) error {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", cache)
	h.Set("Vary", "Accept-Encoding")
	gz := len(body) >= minGzipBytes && acceptsGzip(r.Header.Get("Accept-Encoding"))
	if cache == cachePublic && status == http.StatusOK {
		sum := sha256.Sum256(body)
		tag := `"` + hex.EncodeToString(sum[:16])
		if gz {
			tag += `-gzip`
		}
		tag += `"`
		h.Set("Etag", tag)
		// Only the tag decides: a page shows more than its article's date
		// (templates, lists, the newest articles), so If-Modified-Since is
		// not enough to say it is unchanged.
		if r.Header.Get("If-None-Match") != "" && notModified(r, tag, time.Time{}) {
			h.Del("Content-Type")
			w.WriteHeader(http.StatusNotModified)
			return nil
		}
	}
	if gz {
		var err error
		if body, err = gzipBytes(body); err != nil {
			return err
		}
		h.Set("Content-Encoding", "gzip")
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	if r.Method == http.MethodHead {
		return nil
	}
	_, err := w.Write(body)
	return err
}

// gzipWriters are reused: a gzip.Writer allocates several hundred KB, too
// much to make for every page and archive feed sent compressed.
var gzipWriters = sync.Pool{New: func() any {
	zw, _ := gzip.NewWriterLevel(nil, gzip.DefaultCompression)
	return zw
}}

// gzipBytes compresses body with a pooled writer.
func gzipBytes(body []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzipWriters.Get().(*gzip.Writer)
	defer gzipWriters.Put(zw)
	zw.Reset(&buf)
	if _, err := zw.Write(body); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("gzip: %w", err)
	}
	return buf.Bytes(), nil
}

// pageError is the catalogue's title and text for a failed page request
// with status, other than 404 (notfound.html) and 403 (forbidden.html).
func pageError(status int) (title, text string) {
	switch {
	case status == http.StatusRequestEntityTooLarge:
		return "error.too_large", "error.too_large_txt"
	case status == http.StatusInsufficientStorage:
		return "error.disk_full", "error.disk_full_txt"
	case status >= 500:
		return "error.server", "error.server_txt"
	case status == http.StatusBadRequest:
		return "error.bad_request", "error.bad_request_txt"
	}
	return "error.other", "error.other_txt"
}

// pageNotFound answers a GET of a path no route has with the site's own
// 404 page, in its language, rather than the mux's "404 page not found":
// a reader who mistypes an address gets a way back home. Other methods
// keep the mux's answers (405 with Allow).
func (s *Server) pageNotFound(mux *http.ServeMux) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if (r.Method == http.MethodGet || r.Method == http.MethodHead) && !strings.HasPrefix(r.URL.Path, "/feeds/") {
			if _, pattern := mux.Handler(r); pattern == "" {
				s.errorPage(w, r, &Error{Status: http.StatusNotFound, Message: "not found"})
				return
			}
		}
		mux.ServeHTTP(w, r)
	})
}
