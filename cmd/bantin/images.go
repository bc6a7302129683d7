package main

import (
	"os"

	"github.com/bantin/bantin/internal/ingest"
)

// imageLookup is the HEAD lookup of image lengths every import of the
// process shares (one cache, one bound on requests in flight); nil when
// ingest.image_lookup is off. It reaches public addresses only;
// BANTIN_TEST_IMAGE_LOOKUP_PRIVATE=1 lets the end-to-end tests point it at
// a loopback image server.
func (a *app) imageLookup() *ingest.ImageLookup {
	if !a.cfg.Ingest.ImageLookup {
		return nil
	}
	return ingest.NewImageLookup(ingest.ImageLookupOptions{
		AllowPrivate: os.Getenv("BANTIN_TEST_IMAGE_LOOKUP_PRIVATE") == "1",
	})
}
