package main

import (
	"os"

	"github.com/bantin/bantin/internal/ingest"
)

// imageLookup is the HEAD lookup of image lengths every import of the
// process shares (one cache, one bound on requests in flight). It reaches
// public addresses only; BANTIN_TEST_IMAGE_LOOKUP_PRIVATE=1 lets the
// end-to-end tests point it at a loopback image server.
func imageLookup() *ingest.ImageLookup {
	return ingest.NewImageLookup(ingest.ImageLookupOptions{
		AllowPrivate: os.Getenv("BANTIN_TEST_IMAGE_LOOKUP_PRIVATE") == "1",
	})
}
