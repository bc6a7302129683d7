package ingest

import (
	"bytes"
	"strconv"
	"unicode/utf8"
	"unsafe"

	"github.com/bantin/bantin/internal/article"
)

// decodeJSONFast reads the article objects a CMS export is made of — the
// known keys spelled exactly, each once, strings, an array of strings and
// the image object — without encoding/json's reflection, which was a
// sixth of an import's CPU. Anything else (an unknown or differently
// cased key, a repeated key, null, a number where a string goes, invalid
// UTF-8, a surrogate escape, trailing data, broken JSON) returns false
// and is left to DecodeJSON's encoding/json path, which decides what it
// means and words its errors. FuzzDecodeJSONFast holds the two to the
// same result.
func decodeJSONFast(data []byte) (article.Input, bool) {
	d := fastJSON{data: data}
	var in article.Input
	if !d.object(func(key []byte) bool {
		switch string(key) {
		case "id":
			return d.field(0, &in.ID)
		case "title":
			return d.field(1, &in.Title)
		case "url":
			return d.field(2, &in.URL)
		case "published_at":
			return d.field(3, &in.PublishedAt)
		case "updated_at":
			return d.field(4, &in.UpdatedAt)
		case "author":
			return d.field(5, &in.Author)
		case "summary":
			return d.field(6, &in.Summary)
		case "content_html":
			return d.field(7, &in.ContentHTML)
		case "content_markdown":
			return d.field(8, &in.ContentMarkdown)
		case "categories":
			if !d.once(9) {
				return false
			}
			list, ok := d.strings()
			in.Categories = list
			return ok
		case "image":
			if !d.once(10) {
				return false
			}
			img, ok := d.image()
			in.Image = img
			return ok
		}
		return false
	}) {
		return article.Input{}, false
	}
	d.space()
	if d.i != len(d.data) {
		return article.Input{}, false
	}
	return in, true
}

// fastJSON is a cursor over one JSON value; seen marks the keys read, so
// a repeated one goes to encoding/json (which merges a repeated image).
type fastJSON struct {
	data []byte
	i    int
	seen uint32
}

func (d *fastJSON) once(bit uint) bool {
	if d.seen&(1<<bit) != 0 {
		return false
	}
	d.seen |= 1 << bit
	return true
}

func (d *fastJSON) field(bit uint, dst *string) bool {
	if !d.once(bit) {
		return false
	}
	s, ok := d.str()
	*dst = s
	return ok
}

func (d *fastJSON) space() {
	for d.i < len(d.data) {
		switch d.data[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// consume skips white space and then c, reporting whether c was there.
func (d *fastJSON) consume(c byte) bool {
	d.space()
	if d.i < len(d.data) && d.data[d.i] == c {
		d.i++
		return true
	}
	return false
}

// object reads {"key": value, ...}, calling member with each key's raw
// bytes (keys with escapes are refused) with the cursor before its value.
func (d *fastJSON) object(member func(key []byte) bool) bool {
	if !d.consume('{') {
		return false
	}
	if d.consume('}') {
		return true
	}
	for {
		d.space()
		if d.i >= len(d.data) || d.data[d.i] != '"' {
			return false
		}
		start := d.i + 1
		end := start
		for end < len(d.data) && d.data[end] != '"' {
			if c := d.data[end]; c == '\\' || c < 0x20 || c >= utf8.RuneSelf {
				return false
			}
			end++
		}
		if end >= len(d.data) {
			return false
		}
		d.i = end + 1
		if !d.consume(':') {
			return false
		}
		d.space()
		if !member(d.data[start:end]) {
			return false
		}
		if d.consume(',') {
			continue
		}
		return d.consume('}')
	}
}

// str reads a JSON string. Its common form, no escapes, is one copy. Its
// bytes are checked as UTF-8 in the same pass that looks for its end: with
// a second pass of utf8.Valid, 20 generated article lines took 243 µs to
// decode, 192 µs so.
func (d *fastJSON) str() (string, bool) {
	if d.i >= len(d.data) || d.data[d.i] != '"' {
		return "", false
	}
	start := d.i + 1
	j, ok := plainRun(d.data, start)
	if !ok || j >= len(d.data) {
		return "", false
	}
	switch d.data[j] {
	case '"':
		d.i = j + 1
		return string(d.data[start:j]), true
	case '\\':
		return d.escaped(start, j)
	}
	return "", false // a control character
}

// plainRun returns where the run of a string's bytes from j that need no
// unescaping ends: at a quote, a backslash, a control character or the
// end of data. ok is false when the run holds bytes that are not UTF-8.
func plainRun(data []byte, j int) (end int, ok bool) {
	for j < len(data) {
		c := data[j]
		if c >= utf8.RuneSelf {
			n := runeLen(data[j:])
			if n == 0 {
				return j, false
			}
			j += n
			continue
		}
		if c == '"' || c == '\\' || c < 0x20 {
			break
		}
		j++
	}
	return j, true
}

// runeLen returns the length of the valid UTF-8 encoding of a character
// other than ASCII that p starts with, or 0 when p does not start with
// one. Vietnamese letters are two bytes with a lead C2-DF or three with
// a lead E1-EC (no range of their second byte is refused), checked
// without decoding.
func runeLen(p []byte) int {
	c := p[0]
	switch {
	case c >= 0xC2 && c <= 0xDF:
		if len(p) >= 2 && p[1]&0xC0 == 0x80 {
			return 2
		}
		return 0
	case c >= 0xE1 && c <= 0xEC:
		if len(p) >= 3 && p[1]&0xC0 == 0x80 && p[2]&0xC0 == 0x80 {
			return 3
		}
		return 0
	}
	r, n := utf8.DecodeRune(p)
	if r == utf8.RuneError && n == 1 {
		return 0
	}
	return n
}

// escaped reads the rest of a string from its first backslash at j; the
// bytes before j have been checked by str.
func (d *fastJSON) escaped(start, j int) (string, bool) {
	// Sized to the raw string, which its unescaped form never outgrows:
	// its end is the first quote after an even run of backslashes.
	end := j
	for {
		q := bytes.IndexByte(d.data[end:], '"')
		if q < 0 {
			end = len(d.data)
			break
		}
		end += q
		n := 0
		for end-n-1 >= j && d.data[end-n-1] == '\\' {
			n++
		}
		if n%2 == 0 {
			break
		}
		end++
	}
	buf := make([]byte, 0, end-start)
	buf = append(buf, d.data[start:j]...)
	for j < len(d.data) {
		// The run up to the next quote, backslash or control in one copy.
		k, ok := plainRun(d.data, j)
		if !ok {
			return "", false
		}
		buf = append(buf, d.data[j:k]...)
		j = k
		if j >= len(d.data) {
			return "", false
		}
		switch c := d.data[j]; {
		case c == '"':
			d.i = j + 1
			// buf is this string's own and never written again.
			return unsafe.String(unsafe.SliceData(buf), len(buf)), true
		case c < 0x20:
			return "", false
		}
		if j+1 >= len(d.data) {
			return "", false
		}
		switch e := d.data[j+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			if j+6 > len(d.data) {
				return "", false
			}
			r, err := strconv.ParseUint(string(d.data[j+2:j+6]), 16, 32)
			// Surrogates (pairs, or alone for U+FFFD) are
			// encoding/json's to read.
			if err != nil || r >= 0xD800 && r <= 0xDFFF {
				return "", false
			}
			buf = utf8.AppendRune(buf, rune(r))
			j += 6
			continue
		default:
			return "", false
		}
		j += 2
	}
	return "", false
}

// strings reads an array of strings; [] is an empty, non-nil list, as
// encoding/json makes it.
func (d *fastJSON) strings() ([]string, bool) {
	if !d.consume('[') {
		return nil, false
	}
	list := []string{}
	if d.consume(']') {
		return list, true
	}
	for {
		d.space()
		s, ok := d.str()
		if !ok {
			return nil, false
		}
		list = append(list, s)
		if d.consume(',') {
			continue
		}
		return list, d.consume(']')
	}
}

// image reads the image object.
func (d *fastJSON) image() (*article.ImageInput, bool) {
	var img article.ImageInput
	outer := d.seen
	d.seen = 0
	ok := d.object(func(key []byte) bool {
		switch string(key) {
		case "url":
			return d.field(0, &img.URL)
		case "caption":
			return d.field(1, &img.Caption)
		case "type":
			return d.field(2, &img.Type)
		case "length":
			if !d.once(3) {
				return false
			}
			n, ok := d.integer()
			img.Length = n
			return ok
		}
		return false
	})
	d.seen = outer
	return &img, ok
}

// integer reads a JSON number written as a whole number that fits an
// int64: -?(0|[1-9][0-9]*). Fractions and exponents are refused.
func (d *fastJSON) integer() (int64, bool) {
	start := d.i
	j := start
	if j < len(d.data) && d.data[j] == '-' {
		j++
	}
	digits := j
	for j < len(d.data) && d.data[j] >= '0' && d.data[j] <= '9' {
		j++
	}
	if j == digits || d.data[digits] == '0' && j-digits > 1 {
		return 0, false
	}
	if j < len(d.data) {
		switch d.data[j] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	n, err := strconv.ParseInt(string(d.data[start:j]), 10, 64)
	if err != nil {
		return 0, false
	}
	d.i = j
	return n, true
}
