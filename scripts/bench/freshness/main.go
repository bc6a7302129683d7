// Command freshness measures the time from an admin API ingest returning
// to the new article being in every feed of a running bantin: the
// site-wide RSS, Atom and JSON Feed and its category's RSS.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"slices"
	"time"
)

func main() {
	base := flag.String("base", "http://127.0.0.1:18100", "bantin's address")
	token := flag.String("token", os.Getenv("BANTIN_SERVER_ADMIN_TOKEN"), "admin token")
	n := flag.Int("n", 20, "ingests")
	flag.Parse()
	client := &http.Client{Timeout: 10 * time.Second}
	get := func(path string) []byte {
		resp, err := client.Get(*base + path)
		if err != nil {
			log.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return b
	}
	var lat []time.Duration
	for i := range *n {
		title := fmt.Sprintf("Tin nhanh số %d lúc %d", i, time.Now().UnixNano())
		req, _ := http.NewRequest("POST", *base+"/api/v1/articles",
			bytes.NewReader(fmt.Appendf(nil, `{"title":%q,"summary":"x","categories":["Nhanh"]}`, title)))
		req.Header.Set("Authorization", "Bearer "+*token)
		resp, err := client.Do(req)
		if err != nil {
			log.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusCreated {
			log.Fatalf("POST: %s", resp.Status)
		}
		start := time.Now()
		for _, path := range []string{"/feeds/rss.xml", "/feeds/atom.xml", "/feeds/feed.json", "/feeds/nhanh/rss.xml"} {
			for !bytes.Contains(get(path), []byte(title)) {
				if time.Since(start) > 5*time.Second {
					log.Fatalf("%s: not in %s after 5 s", title, path)
				}
			}
		}
		lat = append(lat, time.Since(start))
	}
	slices.Sort(lat)
	fmt.Printf("ingest to every feed: median %.1f ms, max %.1f ms over %d API ingests (4 feeds fetched in turn)\n",
		float64(lat[len(lat)/2].Microseconds())/1000, float64(lat[len(lat)-1].Microseconds())/1000, len(lat))
}
