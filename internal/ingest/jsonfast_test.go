package ingest

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
)

// jsonSeeds are article objects a CMS writes and the odd ones the fast
// reader must leave to encoding/json.
var jsonSeeds = []string{
	`{"id":"cms-1","title":"Công tác dân vận","url":"https://baomau.vn/tin/1.html","published_at":"2024-01-01T06:00:00+07:00","author":"Ngọc Nữ","categories":["Thời sự"],"summary":"x","content_html":"<p class=\"a\">một\nhai</p>","image":{"url":"/anh/1.jpg","caption":"Ảnh","type":"image/jpeg","length":48213}}`,
	`  {"title":"a\u00e9\u0000\t\\\/\b\f\r","categories":[]}  `,
	`{"title":"x","image":{}}`,
	`{"title":"x","image":null}`,
	`{"title":null}`,
	`{"Title":"case"}`,
	`{"title":"a","title":"b"}`,
	`{"image":{"url":"a"},"image":{"caption":"b"}}`,
	`{"title":"\ud83d\ude00 \ud800"}`,
	"{\"title\":\"\xff\"}",
	`{"title":"x"}{"title":"y"}`,
	`{"title":"x"} x`,
	`{"image":{"length":1.0}}`,
	`{"image":{"length":1e3}}`,
	`{"image":{"length":-0}}`,
	`{"image":{"length":01}}`,
	`{"image":{"length":9223372036854775808}}`,
	`{"image":{"length":-9223372036854775808}}`,
	`{"image":{"length":"1"}}`,
	`{"categories":["a",null]}`,
	`{"categories":"a"}`,
	`{"categories":["a",]}`,
	`{"title":"x",}`,
	`{"extra":1}`,
	`{"title":"\u12"}`,
	`{"title":"\x"}`,
	`[{"title":"x"}]`,
	`"x"`,
	``,
	`{`,
	`{"title":"x"`,
	`{"title" "x"}`,
	"{\"title\":\"a\nb\"}",
}

// FuzzDecodeJSONFast holds the fast reader to encoding/json: whatever it
// accepts, encoding/json accepts too and reads the same.
func FuzzDecodeJSONFast(f *testing.F) {
	for _, seed := range jsonSeeds {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		fast, ok := decodeJSONFast(data)
		if !ok {
			return
		}
		slow, err := decodeJSONSlow(data)
		if err != nil {
			t.Fatalf("fast path read %q, encoding/json refuses it: %v", data, err)
		}
		if diff := cmp.Diff(slow, fast); diff != "" {
			t.Fatalf("%q read differently (-encoding/json +fast):\n%s", data, diff)
		}
	})
}

// TestDecodeJSONFastTakesExports checks the fast reader does take the
// lines of the import fixtures and of the benchmark's generator (else the
// fuzz target above would prove nothing), and reads them as
// encoding/json does.
func TestDecodeJSONFastTakesExports(t *testing.T) {
	lines := []string{jsonSeeds[0], jsonSeeds[1], jsonSeeds[2]}
	collect := func(r record) error {
		if r.format != formatBroken {
			lines = append(lines, string(r.data))
		}
		return nil
	}
	for _, name := range []string{"batch.jsonl", "hostile.json"} {
		path := filepath.Join("testdata", "import", name)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if FormatOf(name) == FormatJSONL {
			err = readJSONLines(bytes.NewReader(data), path, "", collect)
		} else {
			err = readJSONValues(data, path, "", collect)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	taken := 0
	for _, line := range lines {
		slow, slowErr := decodeJSONSlow([]byte(line))
		fast, ok := decodeJSONFast([]byte(line))
		if !ok {
			continue
		}
		taken++
		if slowErr != nil {
			t.Errorf("fast path read %q, encoding/json refuses it: %v", line, slowErr)
		} else if diff := cmp.Diff(slow, fast); diff != "" {
			t.Errorf("%q read differently (-encoding/json +fast):\n%s", line, diff)
		}
	}
	if taken < len(lines)/2 {
		t.Errorf("fast path took %d of %d export lines; want most", taken, len(lines))
	}
	for _, line := range jsonSeeds[3:] {
		if _, ok := decodeJSONFast([]byte(line)); ok {
			if _, err := decodeJSONSlow([]byte(line)); err != nil {
				t.Errorf("fast path took %q, which encoding/json refuses", line)
			}
		}
	}
}

// TestDecodeJSONFastUTF8 puts every sequence of one to three bytes from
// 0x80 up, and four-byte ones around the edges of the valid leads, in a
// string without escapes and in one after an escape: the fast reader takes
// it exactly when it is valid UTF-8 (the rest is encoding/json's, which
// writes U+FFFD for it).
func TestDecodeJSONFastUTF8(t *testing.T) {
	check := func(seq []byte) {
		for _, prefix := range []string{`a`, `a\n`, `\"`} {
			data := []byte(`{"title":"` + prefix + string(seq) + `b","summary":"` + string(seq) + `"}`)
			in, ok := decodeJSONFast(data)
			if ok != utf8.Valid(seq) {
				t.Fatalf("%q: fast path takes it %v; valid UTF-8 %v", data, ok, utf8.Valid(seq))
			}
			if ok && in.Summary != string(seq) {
				t.Fatalf("%q: summary %q", data, in.Summary)
			}
		}
	}
	for a := 0x80; a < 0x100; a++ {
		check([]byte{byte(a)})
		for b := 0x80; b < 0x100; b++ {
			check([]byte{byte(a), byte(b)})
			for c := 0x80; c < 0x100; c += 1 + c%7 {
				check([]byte{byte(a), byte(b), byte(c)})
			}
		}
	}
	for _, a := range []byte{0xF0, 0xF1, 0xF3, 0xF4, 0xF5, 0xF8, 0xFF} {
		for _, b := range []byte{0x80, 0x8F, 0x90, 0xBF, 0xC0} {
			for _, c := range []byte{0x7F, 0x80, 0xBF, 0xC0} {
				check([]byte{a, b, c, 0x80})
				check([]byte{a, b, 0x80, c})
			}
		}
	}
}
