package ingest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/bantin/bantin/internal/article"
)

func TestParseMarkdownGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/markdown/*.md")
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixtures: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			data, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			in, err := ParseMarkdown(data)
			checkGolden(t, file, resultOf(t, in, err))
		})
	}
}

func TestParseMarkdown(t *testing.T) {
	tests := []struct {
		name string
		data string
		want article.Input
	}{
		{
			name: "timestamps come through as written",
			data: "---\ntitle: T\npublished_at: 2024-03-28 08:00:00 +07:00\nupdated_at: 2024-03-28\n---\nBody\n",
			want: article.Input{Title: "T", PublishedAt: "2024-03-28 08:00:00 +07:00",
				UpdatedAt: "2024-03-28", ContentMarkdown: "Body"},
		},
		{
			name: "numbers and booleans as strings",
			data: "---\nid: 4521\ntitle: yes\n---\n",
			want: article.Input{ID: "4521", Title: "yes"},
		},
		{
			name: "content_markdown in the front matter, no body",
			data: "---\ntitle: T\ncontent_markdown: |\n  # H\n  text\n---\n\n\n",
			want: article.Input{Title: "T", ContentMarkdown: "# H\ntext\n"},
		},
		{
			name: "fences with trailing white space, body keeps inner blank lines",
			data: "--- \ntitle: T\n---\u00a0\n\n\nA\n\n\nB\n",
			want: article.Input{Title: "T", ContentMarkdown: "A\n\n\nB"},
		},
		{
			name: "decomposed text is composed",
			data: "---\ntitle: Tie\u0302\u0301u đe\u0302\u0300\n---\nTha\u0302n ba\u0300i\n",
			want: article.Input{Title: "Tiếu đề", ContentMarkdown: "Thân bài"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseMarkdown([]byte(tt.data))
			if err != nil {
				t.Fatalf("ParseMarkdown: %v", err)
			}
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("ParseMarkdown (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseMarkdownErrors(t *testing.T) {
	tests := []struct {
		name     string
		data     string
		wantLine int
		wantIn   string
	}{
		{"empty", "", 1, "front matter"},
		{"no front matter", "# Tiêu đề\n\nThân bài\n", 1, `at least "title`},
		{"not closed", "---\ntitle: T\nBody\n", 1, "not closed"},
		{"no title", "---\nauthor: A\n---\nBody\n", 1, "no title"},
		{"empty front matter", "---\n---\nBody\n", 1, "no title"},
		{"unknown key", "---\ntitle: T\n\ntags: [a]\n---\n", 4, `unknown key "tags"; known keys: id, title`},
		{"unknown image key", "\ufeff---\r\ntitle: T\r\nimage:\r\n  alt: x\r\n---\r\n", 4, `unknown key "alt" in image`},
		{"wrong type", "---\ntitle: T\ncategories: 3\n---\n", 3, "cannot unmarshal"},
		{"list for a string", "---\ntitle:\n  - a\n  - b\n---\n", 3, "cannot unmarshal !!seq into string"},
		// yaml.v3 reports an unclosed flow sequence at the line before it.
		{"syntax error", "---\ntitle: T\nauthor: [a\n---\n", 2, "did not find expected"},
		{"bad indentation", "---\ntitle: T\n  author: A\n---\n", 3, "front matter"},
		{"duplicate key", "---\ntitle: T\ntitle: U\n---\n", 3, "already defined"},
		{"not a mapping", "---\n- a\n---\n", 2, "cannot unmarshal"},
		{"content twice", "---\ntitle: T\ncontent_markdown: x\n---\n\nBody\n", 6, "content_markdown"},
		{"invalid UTF-8", "---\ntitle: \xff\n---\n", 2, "UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseMarkdown([]byte(tt.data))
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

func FuzzParseMarkdown(f *testing.F) {
	files, _ := filepath.Glob("testdata/markdown/*.md")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte("---\ntitle: &a [*a]\n---\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		in, err := ParseMarkdown(data)
		if err != nil {
			var le *LineError
			if !errors.As(err, &le) || le.Line < 1 {
				t.Fatalf("err = %v (%T), want a *LineError with a line", err, err)
			}
			return
		}
		if strings.TrimSpace(in.Title) == "" {
			t.Error("empty title")
		}
	})
}
