package web_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/store"
	"github.com/bantin/bantin/internal/web"
	"github.com/bantin/bantin/templates"
)

// fakeBounces records the query it was asked and answers with list.
type fakeBounces struct {
	list []store.Bounce
	got  *store.BounceQuery
}

func (f fakeBounces) Bounces(_ context.Context, q store.BounceQuery) ([]store.Bounce, error) {
	*f.got = q
	return f.list, nil
}

// TestBouncesAPIQueryLimit1000: since, kind and limit (at most 1,000)
// reach the store; a bad one is a 400 naming its field; times are in the
// site's zone, an unknown status or list is null.
func TestBouncesAPIQueryLimit1000(t *testing.T) {
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 3, 28, 1, 0, 0, 0, time.UTC)
	var got store.BounceQuery
	fb := fakeBounces{got: &got, list: []store.Bounce{{Email: "an@example.vn", Kind: "hard", Source: "import", Status: "5.1.1",
		Outcome: "bounced", List: "sang", IssueID: 7, At: now}, {Email: "lan@example.vn", Kind: "complaint", Source: "ses", Outcome: "unsubscribed", At: now}}}
	srv := httptest.NewServer(web.New(web.Options{
		Site:      web.Site{Title: "Báo Mẫu", BaseURL: "https://baomau.vn", Language: "vi", Location: hcm},
		Templates: tmpl, AdminToken: token, Logger: discardLogger(), Now: func() time.Time { return now }, Bounces: fb,
	}))
	t.Cleanup(srv.Close)

	code, body := getJSON(t, srv.URL+"/api/v1/bounces?since=24h&kind=hard&limit=1000")
	if code != http.StatusOK {
		t.Fatalf("status %d: %v", code, body)
	}
	if want := (store.BounceQuery{Since: now.Add(-24 * time.Hour), Kind: "hard", Limit: 1000}); !got.Since.Equal(want.Since) || got.Kind != want.Kind || got.Limit != want.Limit {
		t.Errorf("query = %+v, want %+v", got, want)
	}
	list, _ := body["bounces"].([]any)
	if len(list) != 2 {
		t.Fatalf("bounces = %v", body)
	}
	first, second := list[0].(map[string]any), list[1].(map[string]any)
	if first["at"] != "2026-03-28T08:00:00+07:00" || first["email"] != "an@example.vn" || first["list"] != "sang" || first["status"] != "5.1.1" || first["issue"] != float64(7) {
		t.Errorf("first = %v", first)
	}
	if second["status"] != nil || second["list"] != nil || second["issue"] != nil || second["reason"] != nil {
		t.Errorf("unknown values should be null: %v", second)
	}
	getJSON(t, srv.URL+"/api/v1/bounces?since=2026-03-01T00:00:00%2B07:00")
	if !got.Since.Equal(time.Date(2026, 2, 28, 17, 0, 0, 0, time.UTC)) || got.Limit != 100 {
		t.Errorf("since an RFC 3339 time: %+v; want that time and the default limit 100", got)
	}
	for _, c := range []struct{ query, field string }{{"limit=1001", "limit"}, {"limit=0", "limit"}, {"kind=vacation", "kind"}, {"since=yesterday", "since"}} {
		code, body := getJSON(t, srv.URL+"/api/v1/bounces?"+c.query)
		if code != http.StatusBadRequest || body["field"] != c.field {
			t.Errorf("?%s: %d %v; want 400 naming %s", c.query, code, body, c.field)
		}
	}
}
