package digest

import (
	"flag"
	netmail "net/mail"
	"os"
	"path/filepath"
	"strings"
	"testing"
	texttemplate "text/template"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/templates"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func testIssue(t *testing.T, lang string) Issue {
	t.Helper()
	hcm := zone(t, "Asia/Ho_Chi_Minh")
	subject := texttemplate.Must(texttemplate.New("s").Parse(`{{.List.Title}} — {{.Date}}: {{(index .Articles 0).Title}}`))
	return Issue{
		List: List{ID: "ban-tin-sang", Title: "Bản tin sáng"}, Number: 7,
		Date: time.Date(2024, 3, 28, 6, 0, 0, 0, hcm),
		Articles: []article.Article{
			{ID: "a1", Slug: "cong-tac-dan-van", Title: "Công tác dân vận <góp phần> gắn kết", URL: "https://baomau.vn/a1.html",
				Author: "Ngọc Nữ", Summary: "Ngày 19/3, đoàn cán bộ đã có buổi khảo sát & làm việc.",
				ContentHTML: "<p>Ngày 19/3, đoàn cán bộ đã có buổi khảo sát &amp; làm việc.</p><p>Đoàn đã đến <b>ba xã</b> vùng sâu để nghe bà con nói về đường sá, trường học và giá lúa.</p>",
				Image:       &article.Image{URL: "https://baomau.vn/anh/a1.jpg", Caption: "Trưởng ban phát biểu"},
				PublishedAt: time.Date(2024, 3, 28, 5, 0, 0, 0, hcm)},
			{ID: "a2", Slug: "gia-lua-tang", Title: "Giá lúa tăng nhẹ", Summary: "Giá lúa tăng 200 đồng/kg.",
				PublishedAt: time.Date(2024, 3, 27, 20, 0, 0, 0, hcm)},
		},
		Site: "Báo Mẫu", Sender: "Báo Mẫu · 12 Lê Lợi, TP.HCM", BaseURL: "https://baomau.vn", Lang: lang, Location: hcm,
		Subject: subject,
	}
}

// TestRenderGolden compares whole copies (subject, headers, text, HTML)
// with reviewed files, in Vietnamese and English.
func TestRenderGolden(t *testing.T) {
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"vi", "en"} {
		t.Run(lang, func(t *testing.T) {
			c, err := testIssue(t, lang).Render(tmpl, Recipient{Email: "nu@example.vn", Name: "Ngọc Nữ",
				UnsubscribeURL: "https://baomau.vn/unsubscribe/TOKEN-U", PreferencesURL: "https://baomau.vn/preferences/TOKEN-P"})
			if err != nil {
				t.Fatal(err)
			}
			var b strings.Builder
			b.WriteString("Subject: " + c.Subject + "\n")
			for _, k := range []string{"List-Id", "List-Unsubscribe", "List-Unsubscribe-Post"} {
				b.WriteString(k + ": " + c.Headers[k] + "\n")
			}
			b.WriteString("\n--- text ---\n" + c.Text + "\n--- html ---\n" + c.HTML)
			golden := filepath.Join("testdata", "digest."+lang+".golden")
			if *update {
				if err := os.WriteFile(golden, []byte(b.String()), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./internal/digest/ -update creates it)", err)
			}
			if diff := cmp.Diff(string(want), b.String()); diff != "" {
				t.Errorf("%s differs (-want +got):\n%s", golden, diff)
			}
			for _, part := range []string{c.Text, c.HTML} {
				for _, must := range []string{"https://baomau.vn/unsubscribe/TOKEN-U", "https://baomau.vn/preferences/TOKEN-P",
					"https://baomau.vn/newsletters/ban-tin-sang/7", "https://baomau.vn/a1.html"} {
					if !strings.Contains(part, must) {
						t.Errorf("a part lacks %s", must)
					}
				}
			}
			if strings.Contains(c.HTML, "<góp phần>") {
				t.Error("the HTML part has an unescaped title")
			}
		})
	}
}

// TestMessageGolden compares whole messages, as they go to the relay
// (headers, MIME layout, quoted-printable parts), with reviewed files.
func TestMessageGolden(t *testing.T) {
	tmpl, err := templates.Load("")
	if err != nil {
		t.Fatal(err)
	}
	for _, lang := range []string{"vi", "en"} {
		t.Run(lang, func(t *testing.T) {
			is := testIssue(t, lang)
			s := New(Options{Emails: tmpl, BaseURL: "https://baomau.vn", Location: is.Location, Logger: discard(),
				From: netmail.Address{Name: "Báo Mẫu", Address: "bantin@baomau.vn"}})
			to := Recipient{Email: "nu@example.vn", Name: "Ngọc Nữ",
				UnsubscribeURL: "https://baomau.vn/unsubscribe/TOKEN-U", PreferencesURL: "https://baomau.vn/preferences/TOKEN-P"}
			v := s.variant(&variants{}, is, true)
			if v.bulk == nil {
				t.Fatal("the built-in templates should allow copies by substitution")
			}
			m, err := s.copyOf(v, to, s.MessageID(is, 42), time.Date(2024, 3, 28, 6, 0, 5, 0, is.Location))
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", "digest."+lang+".eml")
			if *update {
				if err := os.WriteFile(golden, m.Raw, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (go test ./internal/digest/ -update creates it)", err)
			}
			if diff := cmp.Diff(string(want), string(m.Raw)); diff != "" {
				t.Errorf("%s differs (-want +got):\n%s", golden, diff)
			}
		})
	}
}

// TestRenderInlinesStyleBlocks: an admin's template with a <style> block
// goes out with its rules on the elements, as mail clients need.
func TestRenderInlinesStyleBlocks(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "email"), 0o755); err != nil {
		t.Fatal(err)
	}
	html := `<html><head><style>p.lead { color: #a50e0e; font-size: 18px }</style></head><body><p class="lead">{{.List.Title}}</p></body></html>`
	for name, text := range map[string]string{"styled.html": html, "styled.txt": "{{.List.Title}}\n"} {
		if err := os.WriteFile(filepath.Join(dir, "email", name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tmpl, err := templates.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	is := testIssue(t, "vi")
	is.TemplateID = "styled"
	c, err := is.Render(tmpl, Recipient{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(c.HTML, `<p class="lead" style="color:#a50e0e;font-size:18px">Bản tin sáng</p>`) {
		t.Errorf("the style block was not inlined:\n%s", c.HTML)
	}
}
