package article

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

func TestSlugify(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"Công tác dân vận góp phần gắn kết, củng cố niềm tin giữa Đảng với dân", "cong-tac-dan-van-gop-phan-gan-ket-cung-co-niem-tin-giua-dang-voi-dan"},
		{"Đường đến Điện Biên Phủ", "duong-den-dien-bien-phu"},
		{"  TP.HCM: 2.000 hộ dân!  ", "tp-hcm-2-000-ho-dan"},
		{norm.NFD.String("Việt Nam"), "viet-nam"},
		{"中文标题", ""},
		{"---", ""},
		{strings.Repeat("dài ", 60), strings.TrimSuffix(strings.Repeat("dai-", 20), "-")},
	} {
		if got := Slugify(tc.in); got != tc.want {
			t.Errorf("Slugify(%q) = %q, want %q", tc.in, got, tc.want)
		}
		if len(Slugify(tc.in)) > maxSlugBytes {
			t.Errorf("Slugify(%q) longer than %d bytes", tc.in, maxSlugBytes)
		}
	}
}

func TestRemoveXMLInvalid(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"plain", "plain"},
		{"tab\tLF\nCR\r", "tab\tLF\nCR\r"},
		{"a\x00b\x07c\x1bd", "abcd"},
		{"x\uFFFEy\uFFFFz", "xyz"},
		{"bad \xff\xfe utf8", "bad  utf8"},
		{"Tiếng Việt", "Tiếng Việt"},
	} {
		if got := RemoveXMLInvalid(tc.in); got != tc.want {
			t.Errorf("RemoveXMLInvalid(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestHTMLToText(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"<p>Một</p><p>Hai</p>", "Một Hai"},
		{"Giá <strong>vàng</strong>, tăng", "Giá vàng, tăng"},
		{"A &amp; B &lt; C", "A & B < C"},
		{"Trước<script>alert(1)</script>sau", "Trướcsau"},
		{"dòng<br>mới", "dòng mới"},
		{"Giá < 80 triệu", "Giá < 80 triệu"},
	} {
		if got := HTMLToText(tc.in); got != tc.want {
			t.Errorf("HTMLToText(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func testNormalizer(t testing.TB) *Normalizer {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	if err != nil {
		t.Fatal(err)
	}
	n, err := NewNormalizer(NormalizerOptions{
		BaseURL:  "https://baomau.vn",
		Location: loc,
		ParseTime: func(s string, loc *time.Location) (time.Time, error) {
			return time.ParseInLocation(time.RFC3339, s, loc)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestNormalizeRejects(t *testing.T) {
	n := testNormalizer(t)
	for _, tc := range []struct {
		name  string
		in    Input
		field string
	}{
		{"no title", Input{Summary: "x"}, "title"},
		{"blank title", Input{Title: " \r\n\u00a0", Summary: "x"}, "title"},
		{"title only controls", Input{Title: "\x01\u0085\x7f\u009b", Summary: "x"}, "title"},
		{"no content", Input{Title: "x"}, "content_html"},
		{"javascript url", Input{Title: "x", Summary: "x", URL: "javascript:alert(1)"}, "url"},
		{"bad date", Input{Title: "x", Summary: "x", PublishedAt: "hôm qua"}, "published_at"},
		{"bad updated", Input{Title: "x", Summary: "x", UpdatedAt: "mai"}, "updated_at"},
		{"data image", Input{Title: "x", Summary: "x", Image: &ImageInput{URL: "data:image/png;base64,AAAA"}}, "image.url"},
		{"negative length", Input{Title: "x", Summary: "x", Image: &ImageInput{URL: "/a.jpg", Length: -1}}, "image.length"},
		{"huge title", Input{Title: strings.Repeat("a", maxTitleRunes+1), Summary: "x"}, "title"},
		{"huge id", Input{ID: strings.Repeat("a", maxIDBytes+1), Title: "x", Summary: "x"}, "id"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := n.Normalize(tc.in, time.Now())
			var fe *FieldError
			if !errors.As(err, &fe) || fe.Field != tc.field || !errors.Is(err, ErrInvalid) {
				t.Errorf("error %v, want a FieldError on %q", err, tc.field)
			}
		})
	}
}

func TestKeyIsStableAndSensitive(t *testing.T) {
	n := testNormalizer(t)
	in := Input{Title: "Tiêu đề", URL: "https://baomau.vn/a.html", Summary: "x", Categories: []string{"a", "b"}}
	id, h1 := n.Key(in)
	if id != "https://baomau.vn/a.html" {
		t.Errorf("id without id field = %q, want the URL", id)
	}
	if _, h2 := n.Key(in); h2 != h1 {
		t.Error("the same input gave two hashes")
	}
	moved := in
	moved.Categories = []string{"ab"}
	if _, h3 := n.Key(moved); h3 == h1 {
		t.Error("categories [a b] and [ab] gave the same hash")
	}
	noURL := Input{Title: "Tiêu đề", PublishedAt: "2024-03-28T08:00:00+07:00", Summary: "x"}
	id1, _ := n.Key(noURL)
	noURL.Summary = "y"
	if id2, _ := n.Key(noURL); id1 != id2 || !strings.HasPrefix(id1, "sha256-") {
		t.Errorf("an undated-content change must not change the id made of title and date: %q vs %q", id1, id2)
	}
}

func FuzzNormalize(f *testing.F) {
	f.Add("Công tác <b>dân vận</b>", "<p onclick=x>Xin chào <a href=\"/a\">a</a><script>x</script></p>", "", "https://baomau.vn/a.html", "Ngọc Nữ", "Dân vận")
	f.Add("Dòng\r\nhai\x00", "]]> \x01 \uFFFE", "**md** [x](javascript:alert(1))", "/tuong-doi", "<img src=x onerror=y>", "")
	f.Add("a", "", "", "", "", "   ")
	f.Add("b", "</div></div><table><tr><td>x<details open><p>y", "", "", "", "")
	n := testNormalizer(f)
	f.Fuzz(func(t *testing.T, title, content, markdown, link, author, category string) {
		in := Input{Title: title, ContentHTML: content, ContentMarkdown: markdown, URL: link, Author: author, Categories: []string{category}, Summary: "tóm tắt"}
		a, err := n.Normalize(in, time.Date(2024, 3, 28, 0, 0, 0, 0, time.UTC))
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("error outside the vocabulary: %v", err)
			}
			return
		}
		for name, v := range map[string]string{"title": a.Title, "content": a.ContentHTML, "author": a.Author, "summary": a.Summary, "slug": a.Slug, "guid": a.GUID} {
			if !utf8.ValidString(v) || RemoveXMLInvalid(v) != v {
				t.Errorf("%s is not clean text: %q", name, v)
			}
			if !norm.NFC.IsNormalString(v) {
				t.Errorf("%s is not NFC: %q", name, v)
			}
		}
		if a.Title == "" || strings.ContainsAny(a.Title, "\r\n") {
			t.Errorf("title %q", a.Title)
		}
		lower := strings.ToLower(a.ContentHTML)
		for _, bad := range []string{"<script", "javascript:", " onerror=", " onclick=", "<style"} {
			if strings.Contains(lower, bad) {
				t.Errorf("content keeps %q: %q", bad, a.ContentHTML)
			}
		}
		if a.Slug == "" {
			t.Error("empty slug")
		}
		if err := checkBalanced(a.ContentHTML); err != nil {
			t.Errorf("content not balanced: %v in %q", err, a.ContentHTML)
		}
	})
}

func TestNFCStableRanges(t *testing.T) {
	for r := rune(0); r < 0x10000; r++ {
		if !isNFCStable(r) {
			continue
		}
		s := string(r)
		p := norm.NFC.PropertiesString(s)
		if !norm.NFC.IsNormalString(s) || !p.BoundaryBefore() || p.CCC() != 0 {
			t.Errorf("U+%04X is in the fast NFC ranges but normal=%v boundaryBefore=%v ccc=%d",
				r, norm.NFC.IsNormalString(s), p.BoundaryBefore(), p.CCC())
		}
	}
	for _, s := range []string{"Việt Nam", norm.NFD.String("Việt Nam"), "e\u0301", "Ω\u2126", "“trích dẫn” – …"} {
		// The fast path of cleanText must give what x/text gives.
		if got, want := cleanText(s), norm.NFC.String(s); got != want {
			t.Errorf("cleanText(%q) = %q, want %q", s, got, want)
		}
	}
}

func TestResolveURLs(t *testing.T) {
	n := testNormalizer(t)
	got := n.sanitizeHTML(n.base, `<p>Xem <a href="/a?x=1&amp;y=2">a</a>, <a href="https://khac.vn/b">b</a> và <img src="anh/c.jpg" alt="Ảnh: cầu"> href="/text"</p>`)
	want := `<p>Xem <a href="https://baomau.vn/a?x=1&amp;y=2">a</a>, <a href="https://khac.vn/b">b</a> và <img src="https://baomau.vn/anh/c.jpg" alt="Ảnh: cầu"> href=&#34;/text&#34;</p>`
	if got != want {
		t.Errorf("sanitizeHTML:\n got %s\nwant %s", got, want)
	}
}

func TestCollapseSpace(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"một hai", "một hai"},
		{" một", "một"},
		{"một ", "một"},
		{"một  hai", "một hai"},
		{"một\nhai\r\nba", "một hai ba"},
		{"một\u00a0hai", "một hai"},
		{"   ", ""},
	} {
		if got := collapseSpace(tc.in); got != tc.want {
			t.Errorf("collapseSpace(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// BenchmarkNormalize measures one seed-sized article (about 4 KB of
// Vietnamese HTML with relative links) through validation, sanitizing and
// text clean-up.
func BenchmarkNormalize(b *testing.B) {
	n := testNormalizer(b)
	var body strings.Builder
	for i := range 6 {
		fmt.Fprintf(&body, "<p>Nhận thức tầm quan trọng của công tác dân vận theo quan điểm của Đảng, qua 10 năm triển khai thực hiện, các cấp ủy đã ban hành nhiều chủ trương, nghị quyết, chuyên đề về công tác vận động quần chúng, củng cố kiện toàn và đổi mới phương thức hoạt động. <a href=\"/tin/%d.html\">Xem thêm</a></p>\n", i)
	}
	in := Input{ID: "cms-1", Title: "Công tác dân vận góp phần gắn kết, củng cố niềm tin giữa Đảng với dân",
		URL: "https://baomau.vn/a.html", PublishedAt: "2024-03-28T08:00:00+07:00", Author: "Ngọc Nữ",
		Categories: []string{"Dân vận"}, Summary: "(Baomau.vn) - Ngày 19/3, đoàn cán bộ đã có buổi khảo sát.",
		ContentHTML: body.String(), Image: &ImageInput{URL: "/anh/1.jpg", Caption: "Ảnh: buổi khảo sát"}}
	now := time.Now()
	b.SetBytes(int64(len(in.ContentHTML)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := n.Normalize(in, now); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkKey(b *testing.B) {
	n := testNormalizer(b)
	in := Input{Title: "Tiêu đề", ContentHTML: strings.Repeat("<p>Nội dung bài viết.</p>", 150)}
	b.ReportAllocs()
	for b.Loop() {
		n.Key(in)
	}
}

func TestCategorySlugAvoidsPaging(t *testing.T) {
	if got := CategorySlug("Page"); got != "page-category" {
		t.Errorf("CategorySlug(Page) = %q, want page-category", got)
	}
	if got := CategorySlug("Thời sự"); got != "thoi-su" {
		t.Errorf("CategorySlug(Thời sự) = %q", got)
	}
}

// TestReferencesToForbiddenCharacters: a character XML forbids written as a
// reference (&#x1;) is decoded by the sanitizer; it must not survive.
func TestReferencesToForbiddenCharacters(t *testing.T) {
	n := testNormalizer(t)
	a, err := n.Normalize(Input{Title: "T &#x1; T", Author: "A&#8;", ContentHTML: "<p>a&#x1;b&#xFFFE;c&#8;</p>", Summary: "x&#x1b;y"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for name, v := range map[string]string{"title": a.Title, "author": a.Author, "content": a.ContentHTML, "summary": a.Summary} {
		if RemoveXMLInvalid(v) != v {
			t.Errorf("%s keeps a character XML forbids: %q", name, v)
		}
	}
}

// TestScanTextShortcuts holds scanText's shortcuts for Vietnamese letters
// to the decoding it skips: every code point, alone and after an ASCII
// letter, and cut or broken sequences.
func TestScanTextShortcuts(t *testing.T) {
	decoded := func(s string) (xmlOK, nfcStable bool) {
		nfcStable = true
		for i := 0; i < len(s); {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 || r == 0xFFFE || r == 0xFFFF || r < 0x20 && r != '\t' && r != '\n' && r != '\r' {
				return false, false
			}
			nfcStable = nfcStable && isNFCStable(r)
			i += size
		}
		return true, nfcStable
	}
	var inputs []string
	for r := rune(0); r <= utf8.MaxRune; r++ {
		if utf8.ValidRune(r) {
			inputs = append(inputs, string(r), "a"+string(r)+"b")
		}
	}
	for _, s := range []string{"\xc2", "\xcb\x7f", "\xcb\xc0", "\xe1\xb8", "\xe1\xbb\x7f", "\xe1\xbc\x80", "\xe1\xb7\xbf", "\xe1\xbb\xc0", "Vi\xe1\xbb\x87t"} {
		inputs = append(inputs, s, s+"x", "x"+s)
	}
	for _, s := range inputs {
		gotOK, gotStable := scanText(s)
		wantOK, wantStable := decoded(s)
		if gotOK != wantOK || gotOK && gotStable != wantStable {
			t.Errorf("scanText(%q) = %v, %v; decoding says %v, %v", s, gotOK, gotStable, wantOK, wantStable)
		}
	}
}
