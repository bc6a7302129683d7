package ingest

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bantin/bantin/internal/article"
)

func TestJSONValueLines(t *testing.T) {
	input := "\uFEFF[\n  {\"title\": \"một\"},\n\n  {\"title\": \"hai\"}\n  ,{\"title\": \"ba\"}]\n{\"title\": \"bốn\"}\n"
	var lines []int
	err := readJSONValues([]byte(input), "x.json", "", func(r record) error {
		if r.format == formatBroken {
			t.Errorf("line %d broken: %s", r.origin.Line, r.data)
		}
		lines = append(lines, r.origin.Line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if want := []int{2, 4, 5, 6}; !equalInts(lines, want) {
		t.Errorf("lines %v, want %v", lines, want)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecodeJSONErrors(t *testing.T) {
	for _, tc := range []struct{ in, field, reason string }{
		{`{"title":"x","tags":[]}`, "tags", "unknown key"},
		{`{"title":1}`, "title", "expected a string"},
		{`{"categories":"Thời sự"}`, "categories", "an array of strings"},
		{`{"image":{"length":"lớn"}}`, "image.length", "a whole number"},
		{`[]`, "", "expected an article object"},
		{`{"title":"x"} {"title":"y"}`, "", "more than one JSON value"},
		{``, "", "empty input"},
		{`{"title":`, "", "not valid JSON"},
	} {
		_, err := DecodeJSON([]byte(tc.in))
		var fe *article.FieldError
		switch {
		case err == nil:
			t.Errorf("DecodeJSON(%q): no error", tc.in)
		case tc.field != "" && (!errors.As(err, &fe) || fe.Field != tc.field):
			t.Errorf("DecodeJSON(%q) = %v, want a FieldError on %q", tc.in, err, tc.field)
		case !strings.Contains(err.Error(), tc.reason):
			t.Errorf("DecodeJSON(%q) = %v, want it to say %q", tc.in, err, tc.reason)
		}
	}
}

func TestUnknownFileType(t *testing.T) {
	dir := t.TempDir()
	odd := filepath.Join(dir, "bai.docx")
	if err := os.WriteFile(odd, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	var reasons []string
	err := Paths([]string{odd}, nil, "")(context.Background(), func(r record) error {
		reasons = append(reasons, string(r.data))
		return nil
	})
	if err != nil || len(reasons) != 1 || !strings.Contains(reasons[0], "unknown file type") {
		t.Errorf("a .docx named on the command line: %v %q; want one rejection naming the file type", err, reasons)
	}
}

// FuzzReadJSON feeds arbitrary bytes to the .json and .jsonl readers and the
// article decoder: they must never panic, and every record must carry a
// line inside the input.
func FuzzReadJSON(f *testing.F) {
	for _, seed := range []string{
		`[{"title":"một","summary":"x"},{"title":"hai"}]`,
		"{\"title\":\"một\"}\n{\"title\":\"hai\"}\n",
		"\uFEFF[\n{\"title\": 1},\n]",
		`{"image":{"url":"/a.jpg","length":-1},"categories":["a",null]}`,
		"[[[[",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		lines := strings.Count(string(data), "\n") + 1
		check := func(r record) error {
			if r.origin.Line < 1 || r.origin.Line > lines {
				t.Fatalf("record at line %d of a %d-line input", r.origin.Line, lines)
			}
			if r.format != formatBroken {
				_, _ = DecodeJSON(r.data)
			}
			return nil
		}
		if err := readJSONValues(data, "f.json", "", check); err != nil {
			t.Fatal(err)
		}
		if err := readJSONLines(strings.NewReader(string(data)), "f.jsonl", "", check); err != nil {
			t.Fatal(err)
		}
	})
}
