package article

import (
	"testing"
	"time"
)

// TestMarkdownSummarySeparatesBlocks: a summary made from a Markdown body
// keeps each heading, quote and list item a sentence of its own; no two
// blocks' words run together.
func TestMarkdownSummarySeparatesBlocks(t *testing.T) {
	n := testNormalizer(t)
	for _, tc := range []struct{ name, markdown, want string }{
		{
			name:     "heading after a paragraph",
			markdown: "Mô hình đã chạy ổn định sau vụ trước.\n\n## Đầu ra ổn định\n\nÔng Trần nói.",
			want:     "Mô hình đã chạy ổn định sau vụ trước. Đầu ra ổn định. Ông Trần nói.",
		},
		{
			name:     "quote and list items",
			markdown: "# Tiêu đề phụ\n\n> Câu trích dẫn\n\n- Một\n- Hai!\n- Ba\n\nKết",
			want:     "Tiêu đề phụ. Câu trích dẫn. Một. Hai! Ba. Kết",
		},
		{
			name:     "a lead-in, closing quotes and a line break",
			markdown: "Các bước:\n\n1. Cày\n2. Cấy\n\n> \"Được mùa.\"\n\nDòng một  \ndòng hai",
			want:     "Các bước: Cày. Cấy. \"Được mùa.\" Dòng một dòng hai",
		},
		{
			name:     "inline markup stays in its sentence",
			markdown: "Giá **vàng** tăng\n\n```\nmã\n```",
			want:     "Giá vàng tăng. mã",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := n.Normalize(Input{Title: "T", ContentMarkdown: tc.markdown}, time.Now())
			if err != nil {
				t.Fatal(err)
			}
			if a.Summary != tc.want {
				t.Errorf("summary = %q, want %q", a.Summary, tc.want)
			}
		})
	}
	// HTML content follows the same rule.
	a, err := n.Normalize(Input{Title: "T", ContentHTML: "<h2>Đầu ra</h2><blockquote><p>Trích</p></blockquote><ul><li>Một</li><li>Hai</li></ul>"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if want := "Đầu ra. Trích. Một. Hai"; a.Summary != want {
		t.Errorf("summary of HTML = %q, want %q", a.Summary, want)
	}
}

// TestTitleIsPlainText: a title is text as given; what looks like a tag or
// an entity in it is kept, not dropped or read.
func TestTitleIsPlainText(t *testing.T) {
	n := testNormalizer(t)
	for _, tc := range []struct{ in, want string }{
		{"Sản lượng năm ‹kỷ lục>", "Sản lượng năm ‹kỷ lục>"},
		{"Giá năm <kỷ lục>", "Giá năm <kỷ lục>"},
		{"a <b> c", "a <b> c"},
		{"x < y > z", "x < y > z"},
		{"<em>Giá</em> &lt; 80", "<em>Giá</em> &lt; 80"},
		{"  Tie\u0302\u0301u\tđề\r\nmới\x7f\u0085x\u009b  ", "Tiếu đề mới x"},
	} {
		a, err := n.Normalize(Input{Title: tc.in, Summary: "x"}, time.Now())
		if err != nil {
			t.Fatalf("Normalize(%q): %v", tc.in, err)
		}
		if a.Title != tc.want {
			t.Errorf("title of %q = %q, want %q", tc.in, a.Title, tc.want)
		}
	}
}
