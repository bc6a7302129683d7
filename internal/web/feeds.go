package web

import (
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

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
	sendRendered(w, r, doc, true)
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
	sendRendered(w, r, doc, true)
	return nil
}

// sendRendered sends a cached document, and returns its status: gzip when
// the client takes it, 304 when its copy is current, headers only for
// HEAD. The headers were built with the document; the security headers
// were set on the way in (secured: the routes) or are set here (the short
// path, serveCachedFeed).
func sendRendered(w http.ResponseWriter, r *http.Request, doc *feed.Rendered, secured bool) int {
	h := w.Header()
	body, header, tag, file := doc.Body, doc.IdentityHeader, doc.ETag, doc.BodyFile
	if acceptsGzip(r.Header.Get("Accept-Encoding")) {
		body, header, tag, file = doc.Gzip, doc.GzipHeader, doc.GzipETag, doc.GzipFile
	}
	if notModified(r, tag, doc.LastModified) {
		// A 304 carries what RFC 9110 §15.4.5 asks of it (Cache-Control,
		// ETag, Vary, Date): a cache keeps the other headers it stored
		// with the 200, so the security headers would be bytes sent and
		// sorted on every revalidation for nothing.
		if secured {
			for _, sh := range securityHeaderValues {
				delete(h, sh.name)
			}
		}
		for k, v := range doc.NotModifiedHeader {
			h[k] = v
		}
		h["Etag"] = header["Etag"] // tag, in a slice made once
		w.WriteHeader(http.StatusNotModified)
		return http.StatusNotModified
	}
	if !secured {
		setSecurityHeaders(h)
	}
	for k, v := range header {
		h[k] = v
	}
	if r.Method == http.MethodHead {
		return http.StatusOK
	}
	if file != nil {
		// Through the response's ReadFrom to the connection's: sendfile
		// from the memory file, the kernel's pages to the socket with no
		// copy here, as nginx sends a static file. Bytes otherwise.
		bodyFollows(r)
		_, _ = io.Copy(w, &fileSection{body: body, file: file})
		return http.StatusOK
	}
	if len(body) > connBufferBytes {
		// net/http sends the head with the start of the body as one 4 KB
		// write and the rest after it: the first may wait for the second.
		bodyFollows(r)
	}
	_, _ = w.Write(body)
	return http.StatusOK
}

// connBufferBytes is the size of net/http's buffer of a connection's
// writes: a response larger than it is sent in more than one write.
const connBufferBytes = 4 << 10

// notModified applies RFC 9110 §13.1 to the representation about to be
// sent, whose strong tag is tag: If-None-Match decides when present, else
// If-Modified-Since. A tag of the other encoding does not match: a cache
// holding the gzip copy must not be told its identity copy is current.
func notModified(r *http.Request, tag string, lastModified time.Time) bool {
	if inm := r.Header.Get("If-None-Match"); inm != "" {
		if inm == tag {
			return true
		}
		for _, t := range strings.Split(inm, ",") {
			t = strings.TrimPrefix(strings.TrimSpace(t), "W/") // weak comparison (§13.1.2)
			if t == "*" || t == tag {
				return true
			}
		}
		return false
	}
	if ims := r.Header.Get("If-Modified-Since"); ims != "" {
		if t, err := http.ParseTime(ims); err == nil && !lastModified.After(t) {
			return true
		}
	}
	return false
}

// acceptsGzip reads Accept-Encoding (RFC 9110 §12.5.3): coding names are
// case-insensitive, an explicit gzip entry wins over "*", q=0 refuses.
func acceptsGzip(header string) bool {
	if header == "" {
		return false
	}
	if header == "gzip" || header == "gzip, deflate" || header == "gzip, deflate, br" || header == "gzip, deflate, br, zstd" {
		return true // what nearly every client sends
	}
	star := false
	for _, part := range strings.Split(header, ",") {
		name, params, _ := strings.Cut(part, ";")
		name = strings.ToLower(strings.TrimSpace(name))
		if name != "gzip" && name != "x-gzip" && name != "*" {
			continue
		}
		ok := !zeroQ(params)
		if name != "*" {
			return ok
		}
		star = ok
	}
	return star
}

// zeroQ reports a q parameter of zero ("q=0", "q=0.000").
func zeroQ(params string) bool {
	for _, p := range strings.Split(params, ";") {
		k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
		if strings.EqualFold(strings.TrimSpace(k), "q") {
			v = strings.TrimSpace(v)
			return strings.TrimRight(strings.TrimPrefix(strings.TrimPrefix(v, "0"), "."), "0") == "" && strings.HasPrefix(v, "0")
		}
	}
	return false
}
