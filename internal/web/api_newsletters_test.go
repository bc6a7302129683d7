package web_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bantin/bantin/internal/digest"
	"github.com/bantin/bantin/internal/store/sqlite/sqlitetest"
	"github.com/bantin/bantin/internal/web"
	"github.com/bantin/bantin/templates"
)

// fakeStatus answers Status with lists, narrowed to one as the digest
// service does.
type fakeStatus struct{ lists []digest.ListStatus }

func (f fakeStatus) Status(_ context.Context, list string) ([]digest.ListStatus, error) {
	if list == "" {
		return f.lists, nil
	}
	for _, l := range f.lists {
		if l.ID == list {
			return []digest.ListStatus{l}, nil
		}
	}
	return nil, digest.ErrUnknownList
}

func statusServer(t *testing.T, st web.NewsletterStatus) *httptest.Server {
	t.Helper()
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(web.New(web.Options{
		Site:  web.Site{Title: "Báo Mẫu", BaseURL: "https://baomau.vn", Language: "vi", Location: hcm},
		Store: sqlitetest.Open(t), Templates: tmpl, AdminToken: token, Logger: discardLogger(), NewsletterStatus: st,
	}))
	t.Cleanup(srv.Close)
	return srv
}

func getJSON(t *testing.T, url string) (int, map[string]any) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("GET %s: %v: %s", url, err, b)
	}
	return resp.StatusCode, v
}

// TestNewsletterStatusAPIWritesTimesInTheListZoneAndNullsForNone: the
// API writes a list's times in its own zone, null for a list with no last
// issue or no next run, overdue_since only when a run was missed, and
// [] for no categories; with no status service, no lists.
func TestNewsletterStatusAPIWritesTimesInTheListZoneAndNullsForNone(t *testing.T) {
	tokyo, err := time.LoadLocation("Asia/Tokyo")
	if err != nil {
		t.Fatal(err)
	}
	sentAt := time.Date(2024, 12, 22, 6, 0, 5, 0, time.UTC)
	srv := statusServer(t, fakeStatus{lists: []digest.ListStatus{
		{ID: "sang", Title: "Bản tin sáng", Schedule: "0 6 * * *", Location: hcm, NextRun: time.Date(2024, 12, 23, 6, 0, 0, 0, hcm),
			Overdue: time.Date(2024, 12, 22, 6, 0, 0, 0, hcm), NewArticles: 3, MaxArticles: 20, Confirmed: 2, Queued: 1,
			Last: &digest.IssueStatus{Number: 4, Subject: "Số 4", Status: "sending", SentAt: sentAt, Queued: 1, Sent: 1}},
		{ID: "tuan", Title: "Tin tuần", Schedule: "0 8 * * 1", Location: tokyo, Categories: []string{"nhat-ban"}},
	}})

	code, all := getJSON(t, srv.URL+"/api/v1/newsletters")
	lists, _ := all["newsletters"].([]any)
	if code != http.StatusOK || len(lists) != 2 {
		t.Fatalf("GET /api/v1/newsletters: %d %v", code, all)
	}
	want := map[string]any{
		"id": "sang", "title": "Bản tin sáng", "schedule": "0 6 * * *", "timezone": "Asia/Ho_Chi_Minh", "categories": []any{},
		"next_run": "2024-12-23T06:00:00+07:00", "overdue_since": "2024-12-22T06:00:00+07:00",
		"new_articles": 3.0, "max_articles": 20.0, "confirmed_subscribers": 2.0, "queued": 1.0,
		"last_issue": map[string]any{"number": 4.0, "subject": "Số 4", "status": "sending", "sent_at": "2024-12-22T13:00:05+07:00",
			"url": "https://baomau.vn/newsletters/sang/4", "counts": map[string]any{"queued": 1.0, "sent": 1.0, "failed": 0.0, "skipped": 0.0}},
	}
	if diff := cmp.Diff(want, lists[0]); diff != "" {
		t.Errorf("sang (-want +got):\n%s", diff)
	}
	code, tuan := getJSON(t, srv.URL+"/api/v1/newsletters/tuan")
	if code != http.StatusOK || tuan["last_issue"] != nil || tuan["next_run"] != nil || tuan["timezone"] != "Asia/Tokyo" {
		t.Errorf("GET /api/v1/newsletters/tuan: %d %v", code, tuan)
	}
	if _, ok := tuan["overdue_since"]; ok {
		t.Errorf("tuan has overdue_since: %v", tuan)
	}
	if code, body := getJSON(t, srv.URL+"/api/v1/newsletters/khong-co"); code != http.StatusNotFound || body["field"] != "list" ||
		!strings.Contains(body["error"].(string), "khong-co") {
		t.Errorf("an unknown list: %d %v", code, body)
	}

	off := statusServer(t, nil)
	if code, body := getJSON(t, off.URL+"/api/v1/newsletters"); code != http.StatusOK || len(body["newsletters"].([]any)) != 0 {
		t.Errorf("without newsletters: %d %v", code, body)
	}
}
