// Command barefeed is the baseline of the feed benchmark: the smallest
// net/http server that sends one feed document from memory, as identity,
// as gzip (compressed once at start) or as 304 for a matching
// If-None-Match. bantin's cost of routing, caching and headers is measured
// against it. With -timeouts it has bantin serve's read, write and idle
// timeouts too, which cost each kept-alive request timer changes in Go's
// server: the part of bantin's cost that is its protection from slow
// clients.
package main

import (
	"bytes"
	"compress/gzip"
	"flag"
	"log"
	"net/http"
	"os"
	"strconv"
	"strings"

	"github.com/bantin/bantin/internal/web"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18101", "listen address")
	file := flag.String("file", "", "the feed document to serve")
	etag := flag.String("etag", `"bare"`, "the ETag to send and match")
	timeouts := flag.Bool("timeouts", false, "bantin serve's read, write and idle timeouts (web.SetTimeouts)")
	flag.Parse()
	body, err := os.ReadFile(*file)
	if err != nil {
		log.Fatal(err)
	}
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	zw.Write(body)
	zw.Close()
	zipped := gz.Bytes()
	srv := &http.Server{Addr: *addr}
	if *timeouts {
		web.SetTimeouts(srv)
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Type", "application/rss+xml; charset=utf-8")
		h.Set("ETag", *etag)
		if r.Header.Get("If-None-Match") == *etag {
			w.WriteHeader(http.StatusNotModified)
			return
		}
		b := body
		if strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
			b = zipped
			h.Set("Content-Encoding", "gzip")
		}
		h.Set("Content-Length", strconv.Itoa(len(b)))
		w.Write(b)
	})
	log.Fatal(srv.ListenAndServe())
}
