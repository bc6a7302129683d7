package feed

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/mmcdole/gofeed"

	"github.com/bantin/bantin/internal/article"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var hcm = func() *time.Location {
	loc, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	if err != nil {
		panic(err)
	}
	return loc
}()

func testRenderer(full bool) *Renderer {
	return NewRenderer(Options{
		Site:        Site{Title: "Báo Mẫu", Description: "Tin tức mỗi ngày", BaseURL: "https://baomau.vn", Language: "vi", Location: hcm},
		FullContent: full,
		Hubs:        []string{"https://baomau.vn/websub"},
		// The admin's title, with characters XML must escape in the Atom
		// label and the RSS text.
		Categories: map[string]CategoryInfo{"kinh-te": {Title: `Kinh tế & "Nhà nông"`, Description: "Giá cả, thị trường"}},
	})
}

// fixtures are stored articles of every shape a feed must carry, the
// hostile ones of the import tests included (as the importer stores them).
func fixtures() []article.Article {
	thoiSu := article.Category{Slug: "thoi-su", Title: "Thời sự"}
	danVan := article.Category{Slug: "dan-van", Title: "Dân vận"}
	return []article.Article{
		{
			ID: "cms-4521", GUID: "tag:baomau.vn,2024-12-20:cms-4521", Slug: "hoi-nghi-tong-ket",
			Title: "Hội nghị tổng kết công tác dân vận năm 2024", URL: "https://baomau.vn/thoi-su/hoi-nghi-tong-ket.html",
			Author: "Lê Hoa", Categories: []article.Category{thoiSu, danVan},
			Summary:     "Sáng 20/12, Ban Dân vận tổ chức hội nghị tổng kết.",
			ContentHTML: `<p>(Baomau.vn) - Sáng 20/12, Ban Dân vận tổ chức hội nghị.</p><figure><img src="https://baomau.vn/anh/hoi-nghi.jpg" alt="Toàn cảnh: hội nghị"><figcaption>Toàn cảnh hội nghị</figcaption></figure>`,
			Image:       &article.Image{URL: "https://baomau.vn/anh/hoi-nghi.jpg", Caption: "Toàn cảnh hội nghị", Type: "image/jpeg", Length: 48213},
			PublishedAt: time.Date(2024, 12, 20, 14, 30, 0, 0, hcm), UpdatedAt: time.Date(2024, 12, 20, 16, 0, 0, 0, hcm),
			StoredAt: time.Date(2024, 12, 20, 14, 31, 0, 0, hcm),
		},
		{
			ID: "hostile-controls", GUID: "tag:baomau.vn,2024-12-22:hostile-controls", Slug: "dong-tieu-de-bi-ngat",
			Title: `Tiêu đề có <b> & "ngoặc" ]]>`, Categories: []article.Category{thoiSu},
			Summary:     "Ký tự ]]> và <script> trong tóm tắt",
			ContentHTML: "<p>Đoạn có ]]&gt; và ]]&gt; cùng &amp; ký tự lạ.</p>",
			Image:       &article.Image{Caption: "Ảnh không có địa chỉ"},
			PublishedAt: time.Date(2024, 12, 19, 9, 15, 0, 0, hcm), UpdatedAt: time.Date(2024, 12, 19, 9, 15, 0, 0, hcm),
			StoredAt: time.Date(2024, 12, 22, 7, 0, 0, 0, hcm),
		},
		{
			ID: "https://baomau.vn/kinh-te/gia-lua.html", GUID: "tag:baomau.vn,2024-12-22:https://baomau.vn/kinh-te/gia-lua.html",
			Slug: "gia-lua-tang", Title: "Giá lúa tăng nhẹ",
			// Stored under its slug alone, as from "categories": ["kinh-te"].
			Categories: []article.Category{{Slug: "kinh-te", Title: "kinh-te"}},
			Summary:    "Giá lúa tăng nhẹ.", ContentHTML: "<p>Giá lúa tăng nhẹ.</p>",
			Image:       &article.Image{URL: "https://baomau.vn/anh/lua.png"},
			PublishedAt: time.Date(2024, 12, 18, 7, 0, 0, 0, hcm), UpdatedAt: time.Date(2024, 12, 18, 7, 0, 0, 0, hcm),
			StoredAt: time.Date(2024, 12, 18, 7, 0, 0, 0, hcm),
		},
	}
}

// TestGolden renders every format for the site-wide feed, a category feed,
// a middle page and an empty feed, and compares with reviewed files.
func TestGolden(t *testing.T) {
	all := fixtures()
	thoiSu := &article.Category{Slug: "thoi-su", Title: "Thời sự"}
	for _, tc := range []struct {
		name string
		doc  Document
		full bool
	}{
		{"site", Document{Page: 1, Pages: 1, Articles: all}, true},
		{"category", Document{Category: thoiSu, Page: 1, Pages: 1, Articles: all[:2]}, true},
		{"page2of3", Document{Page: 2, Pages: 3, Articles: all[2:]}, true},
		{"summary-only", Document{Page: 1, Pages: 1, Articles: all[:1]}, false},
		{"empty", Document{Page: 1, Pages: 1}, true},
	} {
		for _, kind := range Kinds {
			name := tc.name + "." + kind.File()
			t.Run(name, func(t *testing.T) {
				doc := tc.doc
				doc.Kind = kind
				got, err := testRenderer(tc.full).Render(doc)
				if err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", name)
				if *update {
					if err := os.WriteFile(golden, got, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (go test ./internal/feed/ -run TestGolden -update creates it)", err)
				}
				if diff := cmp.Diff(string(want), string(got)); diff != "" {
					t.Errorf("%s differs (-want +got):\n%s", golden, diff)
				}
				checkRoundTrip(t, kind, got, doc)
			})
		}
	}
}

// checkRoundTrip parses a document with gofeed, as feed readers would, and
// checks what a reader shows.
func checkRoundTrip(t *testing.T, kind Kind, data []byte, doc Document) {
	t.Helper()
	parsed, err := gofeed.NewParser().Parse(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("gofeed cannot parse the %s document: %v", kind.Name(), err)
	}
	if len(parsed.Items) != len(doc.Articles) {
		t.Fatalf("gofeed sees %d items, want %d", len(parsed.Items), len(doc.Articles))
	}
	if parsed.Language != "vi" {
		t.Errorf("language %q, want vi", parsed.Language)
	}
	for i, a := range doc.Articles {
		item := parsed.Items[i]
		if item.GUID != a.GUID {
			t.Errorf("item %d: guid %q, want %q", i, item.GUID, a.GUID)
		}
		if item.Title != a.Title {
			t.Errorf("item %d: title %q, want %q", i, item.Title, a.Title)
		}
		if item.PublishedParsed == nil || !item.PublishedParsed.Equal(a.PublishedAt) {
			t.Errorf("item %d: published %v, want %v", i, item.PublishedParsed, a.PublishedAt)
		}
		if len(item.Categories) != len(a.Categories) {
			t.Errorf("item %d: %d categories, want %d", i, len(item.Categories), len(a.Categories))
		}
		if a.Author != "" && (len(item.Authors) == 0 || item.Authors[0].Name != a.Author) {
			t.Errorf("item %d: authors %v, want %q", i, item.Authors, a.Author)
		}
		if hasImage(a) && (item.Image == nil && len(item.Enclosures) == 0) {
			t.Errorf("item %d: the image is lost", i)
		}
	}
}

func TestJSONFeedKeys(t *testing.T) {
	got, err := testRenderer(true).Render(Document{Kind: JSON, Page: 1, Pages: 1})
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(got, &m); err != nil {
		t.Fatal(err)
	}
	if items, ok := m["items"].([]any); !ok || len(items) != 0 {
		t.Errorf("an empty JSON Feed must carry \"items\": [], got %v", m["items"])
	}
	full, _ := testRenderer(true).Render(Document{Kind: JSON, Page: 1, Pages: 1, Articles: fixtures()})
	for _, bad := range []string{`"banner_"`, `"size"`, `"author"`} {
		if strings.Contains(string(full), bad) {
			t.Errorf("JSON Feed has the key %s", bad)
		}
	}
	for _, want := range []string{`"size_in_bytes": 48213`, `"feed_url"`, `"language": "vi"`, `"hubs"`} {
		if !strings.Contains(string(full), want) {
			t.Errorf("JSON Feed lacks %s", want)
		}
	}
}

func TestPath(t *testing.T) {
	for _, tc := range []struct {
		cat  string
		page int
		kind Kind
		want string
	}{
		{"", 1, RSS, "/feeds/rss.xml"},
		{"thoi-su", 1, Atom, "/feeds/thoi-su/atom.xml"},
		{"", 3, JSON, "/feeds/page/3/feed.json"},
		{"thoi-su", 2, RSS, "/feeds/thoi-su/page/2/rss.xml"},
	} {
		if got := Path(tc.cat, tc.page, tc.kind); got != tc.want {
			t.Errorf("Path(%q, %d, %v) = %q, want %q", tc.cat, tc.page, tc.kind, got, tc.want)
		}
	}
}

// FuzzRender renders a feed holding one article made of arbitrary text, as
// the normalizer would store it, in every format: each document must parse
// back with gofeed and carry the article's title.
func FuzzRender(f *testing.F) {
	f.Add("Tiêu đề <b> & \"x\" ]]>", "<p>a ]]&gt; b</p>", "Ngọc Nữ", "Thời sự", "https://baomau.vn/a.jpg")
	f.Add("a", "]]>", "", "", "")
	f.Fuzz(func(t *testing.T, title, content, author, category, image string) {
		n, err := article.NewNormalizer(article.NormalizerOptions{BaseURL: "https://baomau.vn", Location: hcm,
			ParseTime: func(s string, loc *time.Location) (time.Time, error) { return time.Parse(time.RFC3339, s) }})
		if err != nil {
			t.Fatal(err)
		}
		a, err := n.Normalize(article.Input{Title: title, ContentHTML: content, Author: author, Categories: []string{category},
			Summary: title, Image: &article.ImageInput{URL: image}}, time.Date(2024, 12, 1, 0, 0, 0, 0, hcm))
		if err != nil {
			return // rejected input never reaches a feed
		}
		a.PublishedAt, a.UpdatedAt, a.StoredAt = time.Date(2024, 12, 1, 8, 0, 0, 0, hcm), time.Date(2024, 12, 1, 8, 0, 0, 0, hcm), time.Date(2024, 12, 1, 8, 0, 0, 0, hcm)
		for _, kind := range Kinds {
			body, err := testRenderer(true).Render(Document{Kind: kind, Page: 1, Pages: 1, Articles: []article.Article{a}})
			if err != nil {
				t.Fatalf("%s: %v", kind.Name(), err)
			}
			parsed, err := gofeed.NewParser().Parse(bytes.NewReader(body))
			if err != nil {
				t.Fatalf("%s does not parse: %v\n%s", kind.Name(), err, body)
			}
			if len(parsed.Items) != 1 || parsed.Items[0].Title != a.Title {
				t.Fatalf("%s: items %d, title %q, want %q", kind.Name(), len(parsed.Items), parsed.Items[0].Title, a.Title)
			}
		}
	})
}

// TestCategoryTitlesFromConfig: an entry's category stored under its slug
// alone shows the config's title in every format (RSS text, Atom label
// with the slug as term, JSON Feed tag), escaped where XML needs it.
func TestCategoryTitlesFromConfig(t *testing.T) {
	doc := Document{Page: 1, Pages: 1, Articles: fixtures()[2:]}
	for kind, want := range map[Kind][]string{
		RSS:  {`<category domain="https://baomau.vn/feeds/kinh-te/rss.xml">Kinh tế &#x26; "Nhà nông"</category>`},
		Atom: {`<category term="kinh-te" scheme="https://baomau.vn/feeds/" label="Kinh tế &amp; &#34;Nhà nông&#34;"></category>`},
		JSON: {`"tags": [`, `"Kinh tế & \"Nhà nông\""`},
	} {
		doc.Kind = kind
		got, err := testRenderer(true).Render(doc)
		if err != nil {
			t.Fatal(err)
		}
		for _, w := range want {
			if !strings.Contains(string(got), w) {
				t.Errorf("%s lacks %s:\n%s", kind.Name(), w, got)
			}
		}
		if bad := map[Kind]string{RSS: ">kinh-te<", Atom: `label="kinh-te"`, JSON: `"kinh-te"`}[kind]; strings.Contains(string(got), bad) {
			t.Errorf("%s shows the slug as a title:\n%s", kind.Name(), got)
		}
	}
}
