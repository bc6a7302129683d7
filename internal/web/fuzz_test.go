package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// FuzzPublicForms: whatever a client posts to the public forms and the
// admin API's decoders, the server answers it without a 5xx: bad input is
// the client's error, never the server's.
func FuzzPublicForms(f *testing.F) {
	for _, seed := range []struct {
		route, body string
	}{
		{"/subscribe", "email=nu%40example.vn&name=N%E1%BB%AF&list=sang"},
		{"/subscribe", "email=%0d%0aBcc:x&list=sang&list=toi&website="},
		{"/api/v1/articles", `{"id":"a","title":"T","summary":"s"}`},
		{"/api/v1/articles", `[{"title":"<script>","content_html":"<p>x</p>"},{"id":1}]`},
		{"/api/v1/subscribers", `{"list":"sang","email":"a@b.vn","name":"A","confirmed":true}`},
		{"/unsubscribe/AAAA", "List-Unsubscribe=One-Click"},
		{"/preferences/AAAA", "list=sang&category=kinh-te"},
		{"/websub", "hub.mode=subscribe&hub.topic=https%3A%2F%2Fbaomau.vn%2Ffeeds%2Frss.xml&hub.callback=http%3A%2F%2F127.0.0.1%2Fcb"},
	} {
		f.Add(seed.route, seed.body)
	}
	fx := newSignupFixture(f, 1000)
	client := &http.Client{}
	f.Fuzz(func(t *testing.T, route, body string) {
		if !strings.HasPrefix(route, "/") || strings.ContainsAny(route, " \r\n\t#?%") || len(route) > 200 {
			return
		}
		ctype := "application/x-www-form-urlencoded"
		if strings.HasPrefix(route, "/api/") {
			ctype = "application/json"
		}
		req, err := http.NewRequest("POST", fx.url+route, strings.NewReader(body))
		if err != nil {
			return
		}
		req.Header.Set("Content-Type", ctype)
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("POST %s: %v", route, err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			t.Fatalf("POST %s with %q: %d", route, body, resp.StatusCode)
		}
	})
}
