package ingest

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	_ "time/tzdata" // tests must not depend on the machine's zone files
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"golang.org/x/text/unicode/norm"

	"github.com/bantin/bantin/internal/article"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

func vietnam(t testing.TB) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// goldenResult is what a golden file holds: the parsed input, or the error.
type goldenResult struct {
	Input *article.Input `json:"input,omitempty"`
	Error *goldenError   `json:"error,omitempty"`
}

type goldenError struct {
	Line   int    `json:"line"`
	Reason string `json:"reason"`
}

func resultOf(t *testing.T, in article.Input, err error) goldenResult {
	t.Helper()
	if err == nil {
		return goldenResult{Input: &in}
	}
	var le *LineError
	if !errors.As(err, &le) {
		t.Fatalf("error %v (%T) is not a *LineError", err, err)
	}
	return goldenResult{Error: &goldenError{Line: le.Line, Reason: le.Reason}}
}

// checkGolden compares got, as indented JSON, with the golden file beside
// the fixture, or rewrites it with -update.
func checkGolden(t *testing.T, fixture string, got goldenResult) {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false) // golden files are read by people
	enc.SetIndent("", "  ")
	if err := enc.Encode(got); err != nil {
		t.Fatal(err)
	}
	golden := strings.TrimSuffix(fixture, filepath.Ext(fixture)) + ".golden.json"
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), buf.String()); diff != "" {
		t.Errorf("%s differs from the golden file (-want +got):\n%s", fixture, diff)
	}
}

// lfText returns a fixture as NFC text with LF line ends and no BOM, the
// base from which the variants of a page are made.
func lfText(data []byte) string {
	s := string(bytes.TrimPrefix(data, []byte("\uFEFF")))
	s = strings.ReplaceAll(s, "\r\n", "\n")
	return norm.NFC.String(s)
}

func TestParsePageGolden(t *testing.T) {
	loc := vietnam(t)
	files, err := filepath.Glob("testdata/page/*.txt")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			in, err := ParsePage(data, loc)
			want := resultOf(t, in, err)
			checkGolden(t, file, want)

			// The same page in another encoding shape must read the same,
			// errors and their lines included. The NFD form is made here
			// rather than stored, so no editor can normalize it away.
			base := lfText(data)
			variants := map[string]string{
				"NFD":      norm.NFD.String(base),
				"CRLF+BOM": "\uFEFF" + strings.ReplaceAll(base, "\n", "\r\n"),
				"CR":       strings.ReplaceAll(base, "\n", "\r"),
			}
			for name, v := range variants {
				in, err := ParsePage([]byte(v), loc)
				if diff := cmp.Diff(want, resultOf(t, in, err)); diff != "" {
					t.Errorf("%s variant (-want +got):\n%s", name, diff)
				}
			}
		})
	}
}

func TestParsePage(t *testing.T) {
	loc := vietnam(t)
	const (
		date = "Thứ Năm, ngày 28 tháng 3 năm 2024"
		lead = "(Dân trí) - Sáng 27/3, hàng nghìn người dân đã đổ về công viên để tham gia ngày hội đi bộ vì sức khỏe cộng đồng."
		long = "Chiều 27/3, Ủy ban nhân dân huyện tổ chức hội nghị tổng kết công tác phòng chống thiên tai năm qua và triển khai nhiệm vụ năm nay với sự tham dự của đại diện các xã."
	)
	para := "Đây là một đoạn thân bài."
	page := func(blocks ...string) []byte { return []byte(strings.Join(blocks, "\n\n")) }
	tests := []struct {
		name string
		data []byte
		want article.Input
	}{
		{
			name: "lead marker, no caption, no author",
			data: page(date, "Tiêu đề", lead, para),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T00:00:00+07:00",
				Summary:     strings.TrimPrefix(lead, "(Dân trí) - "),
				ContentHTML: "<p>" + lead + "</p>\n<p>" + para + "</p>",
			},
		},
		{
			name: "two caption blocks, en dash marker, author with Bài và ảnh",
			data: page("08:00 28/3/2024", "Tiêu đề", "Ảnh 1.", "Ảnh: TTXVN",
				"(TTXVN) – Nội dung chính.", "Bài và ảnh: Quốc Tuấn"),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T08:00:00+07:00",
				Author:      "Quốc Tuấn",
				Summary:     "Nội dung chính.",
				ContentHTML: "<p>(TTXVN) – Nội dung chính.</p>",
				Image:       &article.ImageInput{Caption: "Ảnh 1. Ảnh: TTXVN"},
			},
		},
		{
			name: "GMT offset other than the site's",
			data: page("Thứ Năm, 28/3/2024 08:00 (GMT+9)", "Tiêu đề", para),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T08:00:00+09:00",
				Summary: para, ContentHTML: "<p>" + para + "</p>",
			},
		},
		{
			name: "weekday that does not match is ignored",
			data: page("Thứ Hai, 28/3/2024", "Tiêu đề", para),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T00:00:00+07:00",
				Summary: para, ContentHTML: "<p>" + para + "</p>",
			},
		},
		{
			name: "date and title in one block",
			data: []byte("28/3/2024\nTiêu đề\nhai dòng\n\n" + para),
			want: article.Input{
				Title: "Tiêu đề hai dòng", PublishedAt: "2024-03-28T00:00:00+07:00",
				Summary: para, ContentHTML: "<p>" + para + "</p>",
			},
		},
		{
			name: "first long block is the lead",
			data: page(date, "Tiêu đề", "Chú thích ảnh ngắn.", long, para, "Hà Linh"),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T00:00:00+07:00",
				Author: "Hà Linh", Summary: long,
				ContentHTML: "<p>" + long + "</p>\n<p>" + para + "</p>",
				Image:       &article.ImageInput{Caption: "Chú thích ảnh ngắn."},
			},
		},
		{
			name: "three short blocks before the long one are body, not caption",
			data: page(date, "Tiêu đề", "Một.", "Hai.", "Ba.", long),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T00:00:00+07:00",
				Summary:     "Một.",
				ContentHTML: "<p>Một.</p>\n<p>Hai.</p>\n<p>Ba.</p>\n<p>" + long + "</p>",
			},
		},
		{
			name: "marker lead wins over a long caption",
			data: page(date, "Tiêu đề", long, lead),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T00:00:00+07:00",
				Summary:     strings.TrimPrefix(lead, "(Dân trí) - "),
				ContentHTML: "<p>" + lead + "</p>",
				Image:       &article.ImageInput{Caption: long},
			},
		},
		{
			name: "chrome heading inside the author's block, in capitals",
			data: []byte(date + "\n\nTiêu đề\n\n" + para + "\n\nMinh Châu\nTIN KHÁC\nBài khác"),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T00:00:00+07:00",
				Author: "Minh Châu", Summary: para, ContentHTML: "<p>" + para + "</p>",
			},
		},
		{
			name: "chrome headings before the title are not chrome",
			data: page(date, "Thông báo", para),
			want: article.Input{
				Title: "Thông báo", PublishedAt: "2024-03-28T00:00:00+07:00",
				Summary: para, ContentHTML: "<p>" + para + "</p>",
			},
		},
		{
			name: "last blocks that are not authors stay in the body",
			data: page(date, "Tiêu đề", para, "Ảnh: Minh Châu", "Nguồn: VTV", "Kết thúc."),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T00:00:00+07:00",
				Summary:     para,
				ContentHTML: "<p>" + para + "</p>\n<p>Ảnh: Minh Châu</p>\n<p>Nguồn: VTV</p>\n<p>Kết thúc.</p>",
			},
		},
		{
			name: "a short closing quote is not an author",
			data: page(date, "Tiêu đề", para, "“Cảm ơn các bạn!”"),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T00:00:00+07:00",
				Summary:     para,
				ContentHTML: "<p>" + para + "</p>\n<p>“Cảm ơn các bạn!”</p>",
			},
		},
		{
			name: "an author with an agency in parentheses",
			data: page(date, "Tiêu đề", para, "Bài, ảnh:  Minh Anh (TTXVN)"),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T00:00:00+07:00",
				Author: "Minh Anh (TTXVN)", Summary: para, ContentHTML: "<p>" + para + "</p>",
			},
		},
		{
			name: "a source block is not an author",
			data: page(date, "Tiêu đề", para, "Nguồn: VTV"),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T00:00:00+07:00",
				Summary:     para,
				ContentHTML: "<p>" + para + "</p>\n<p>Nguồn: VTV</p>",
			},
		},
		{
			name: "an author longer than 40 characters is body",
			data: page(date, "Tiêu đề", para, "Nhóm phóng viên Ban Thời sự và Ban Kinh tế"),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T00:00:00+07:00",
				Summary:     para,
				ContentHTML: "<p>" + para + "</p>\n<p>Nhóm phóng viên Ban Thời sự và Ban Kinh tế</p>",
			},
		},
		{
			name: "text that looks like HTML is text: a title as written, the body escaped",
			data: page(date, "Tiêu đề <b>", "(A&B) - x < y & \"z\""),
			want: article.Input{
				Title: "Tiêu đề <b>", PublishedAt: "2024-03-28T00:00:00+07:00",
				Summary:     "x &lt; y &amp; &#34;z&#34;",
				ContentHTML: "<p>(A&amp;B) - x &lt; y &amp; &#34;z&#34;</p>",
			},
		},
		{
			name: "zero-width and no-break spaces make blank lines; leading blank lines",
			data: []byte("\u00a0\n\u200b\n" + date + "\n\ufeff \n  Tiêu   đề\u00a0\n\u200b\n" + para + "\u200b\n"),
			want: article.Input{
				Title: "Tiêu đề", PublishedAt: "2024-03-28T00:00:00+07:00",
				Summary: para, ContentHTML: "<p>" + para + "</p>",
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePage(tt.data, loc)
			if err != nil {
				t.Fatalf("ParsePage: %v", err)
			}
			// The id is a hash, checked by TestParsePageIDIgnoresTimezone.
			if diff := cmp.Diff(tt.want, got, cmpopts.IgnoreFields(article.Input{}, "ID")); diff != "" {
				t.Errorf("ParsePage (-want +got):\n%s", diff)
			}
		})
	}
}

// TestParsePageIDIgnoresTimezone: the id of a page is made of its title
// and its date line as printed, so a change of site.timezone does not make
// the same page a second article.
func TestParsePageIDIgnoresTimezone(t *testing.T) {
	data := []byte("Thứ Năm, ngày 28 tháng 3 năm 2024\n\nTiêu đề\n\n(Báo) - Nội dung bài viết.\n")
	vn, err := ParsePage(data, vietnam(t))
	if err != nil {
		t.Fatal(err)
	}
	utc, err := ParsePage(data, time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	if vn.ID == "" || vn.ID != utc.ID {
		t.Errorf("ids %q (Asia/Ho_Chi_Minh) and %q (UTC); want one non-empty id", vn.ID, utc.ID)
	}
	if vn.PublishedAt == utc.PublishedAt {
		t.Errorf("the date itself must follow the zone: both %s", vn.PublishedAt)
	}
	other, _ := ParsePage([]byte("Thứ Năm, ngày 28 tháng 3 năm 2024\n\nTiêu đề khác\n\n(Báo) - Nội dung bài viết.\n"), vietnam(t))
	if other.ID == vn.ID {
		t.Error("two titles on one day share an id")
	}
}

func TestParsePageErrors(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		wantLine int
		wantIn   string // part of the reason
	}{
		{"empty", "", 1, "date line"},
		{"only white space", " \n\u00a0\r\n", 1, "empty page"},
		{"no date line", "Tiêu đề\n\nThân bài.", 1, "28 tháng 3 năm 2024"},
		{"no date after blank lines", "\n\nTiêu đề\n\nThân bài.", 3, "is not a date line"},
		{"bad date", "31/2/2024\n\nTiêu đề\n\nThân bài.", 1, "31/2/2024 is no date"},
		{"bad time", "28/3/2024 25:00\n\nTiêu đề\n\nThân bài.", 1, "no time of day"},
		{"bad date in the first line of a block", "30/2/2024\nTiêu đề\n\nThân bài.", 1, "30/2/2024 is no date"},
		{"date only", "28/3/2024\n", 2, "no title"},
		{"date only without newline", "28/3/2024", 1, "no title"},
		{"no body", "28/3/2024\n\nTiêu đề\n\n\nTin khác\n\nBài khác", 6, "no body"},
		{"no body at the end of the file", "28/3/2024\n\nTiêu đề\n", 4, "no body"},
		{"only an author", "28/3/2024\n\nTiêu đề\n\nHà Linh\n\nBình luận", 5, `only the author "Hà Linh"`},
		{"invalid UTF-8", "28/3/2024\r\n\r\nTi\xeau đề\n", 3, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParsePage([]byte(tt.data), time.UTC)
			var le *LineError
			if !errors.As(err, &le) {
				t.Fatalf("err = %v (%T), want a *LineError", err, err)
			}
			if le.Line != tt.wantLine || !strings.Contains(le.Reason, tt.wantIn) {
				t.Errorf("err = %v, want line %d and a reason with %q", err, tt.wantLine, tt.wantIn)
			}
		})
	}
}

func TestParsePageNilLocation(t *testing.T) {
	got, err := ParsePage([]byte("28/3/2024\n\nTiêu đề\n\nThân bài."), nil)
	if err != nil {
		t.Fatal(err)
	}
	if want := "2024-03-28T00:00:00Z"; got.PublishedAt != want {
		t.Errorf("PublishedAt = %q, want %q", got.PublishedAt, want)
	}
}

func BenchmarkParsePage(b *testing.B) {
	data, err := os.ReadFile("testdata/page/full.txt")
	if err != nil {
		b.Fatal(err)
	}
	loc := vietnam(b)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := ParsePage(data, loc); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzParsePage(f *testing.F) {
	files, _ := filepath.Glob("testdata/page/*.txt")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("8h 28/3/2024 GMT-0530\n\nT\n\n(a) - b\n\nTheo X"))
	loc := time.FixedZone("ICT", 7*3600)
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := ParsePage(data, loc)
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Fatalf("err = %v (%T), want a *LineError with a line", err, err)
			}
			return
		}
		if in.Title == "" {
			t.Error("empty title")
		}
		if _, err := time.Parse(time.RFC3339, in.PublishedAt); err != nil {
			t.Errorf("PublishedAt %q: %v", in.PublishedAt, err)
		}
		if in.ContentHTML == "" || !utf8.ValidString(in.ContentHTML) {
			t.Errorf("ContentHTML %q is empty or not UTF-8", in.ContentHTML)
		}
		if in.Summary == "" {
			t.Error("empty summary")
		}
		// A decomposed page reads the same as the composed one.
		nfd, err := ParsePage(norm.NFD.Bytes(data), loc)
		if err != nil {
			t.Fatalf("NFD form fails: %v", err)
		}
		if diff := cmp.Diff(in, nfd); diff != "" {
			t.Errorf("NFD form differs (-nfc +nfd):\n%s", diff)
		}
	})
}
