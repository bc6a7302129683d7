package ingest

import (
	"bytes"
	"errors"
	"fmt"
	"html"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/bantin/bantin/internal/article"
)

// How a page is read (SPEC §5). The numbers are judgment calls, set from
// the publisher's pages: a photo caption there runs 60 to 150 characters,
// a lead paragraph 200 and more.
const (
	// leadMinRunes is the length from which a block is "long": when no
	// block starts with "(Source) - ", the first long block is the lead.
	leadMinRunes = 160
	// maxCaptionBlocks bounds the short blocks taken as the caption when
	// the lead is found by length: more short blocks before the first
	// long one are more likely short paragraphs than one photo's caption,
	// so then the first block is the lead and there is no caption. A lead
	// marked "(Source) - " is explicit and has no such bound.
	maxCaptionBlocks = 2
	// authorMaxRunes is the longest last block taken as the author.
	authorMaxRunes = 40
	// sourceMaxRunes is the longest source in a "(Source) - " lead.
	sourceMaxRunes = 60
)

// chromeHeadings are the lines that start the page's chrome (comments,
// related articles, notices), folded to lower case. A page is dropped from
// the first of them to its end.
var chromeHeadings = [...]string{
	"ý kiến bạn đọc", "tổng lượt bình luận", "tin khác", "tin liên quan",
	"thông báo", "bình luận", "refresh",
}

// ParsePage reads an article from a text page in the shape the publisher
// prints (SPEC §5): a date line, the title, an optional photo caption, the
// lead (usually "(Source) - …"), the body, an optional author, then page
// chrome that is dropped. A date without a time is midnight in loc (UTC when
// loc is nil); a date line with "GMT+7" keeps that offset.
//
// Every error is a *LineError with the line of the file at fault.
func ParsePage(data []byte, loc *time.Location) (article.Input, error) {
	if loc == nil {
		loc = time.UTC
	}
	text, err := decodeText(data)
	if err != nil {
		return article.Input{}, err
	}
	lines := strings.Split(text, "\n")
	blocks := splitBlocks(lines)
	if len(blocks) == 0 {
		return article.Input{}, &LineError{Line: 1, Reason: "empty page; a page starts with a date line such as " + DateLineForms}
	}

	dateEnd := blocks[0].line + len(blocks[0].lines) // 1-based line after the date block
	published, dateLine, blocks, err := takeDateLine(blocks, loc)
	if err != nil {
		return article.Input{}, err
	}
	if len(blocks) == 0 {
		return article.Input{}, &LineError{
			Line:   min(dateEnd, len(lines)),
			Reason: "no title after the date line; the title is the next paragraph",
		}
	}
	titleBlock := blocks[0]
	// A printed page is text, not HTML: a title is taken as it is (a
	// title is plain text), so "A<B" stays "A<B" wherever it is shown.
	title := collapseSpace(titleBlock.text())
	in := article.Input{
		// The id is made of the title and the date line as printed, so a
		// change of site.timezone never makes the same page a new article.
		ID:          article.HashID(title, foldDateLine(dateLine)),
		Title:       title,
		PublishedAt: published.Format(time.RFC3339),
	}
	titleEnd := titleBlock.line + len(titleBlock.lines) // 1-based line after the title

	rest := cutChrome(blocks[1:])
	texts := make([]string, len(rest))
	for i, b := range rest {
		texts[i] = b.text()
	}
	if n := len(texts); n > 0 {
		if a, ok := authorOf(texts[n-1]); ok {
			in.Author = html.EscapeString(a)
			texts = texts[:n-1]
		}
	}
	if len(texts) == 0 {
		// Point at what stands where the body should be: the author, the
		// first chrome heading, or the end of the file.
		line := titleEnd
		if j := firstLineAfter(lines, titleEnd-1); j >= 0 {
			line = j + 1
		}
		if len(rest) > 0 {
			line = rest[0].line
		}
		reason := "no body: the page has a date line and a title but no paragraph before the page chrome"
		if in.Author != "" {
			reason = fmt.Sprintf("no body: after the title there is only the author %q", in.Author)
		}
		return article.Input{}, &LineError{Line: min(line, len(lines)), Reason: reason}
	}

	lead := findLead(texts)
	if lead > 0 {
		in.Image = &article.ImageInput{Caption: html.EscapeString(strings.Join(texts[:lead], " "))}
	}
	in.Summary = html.EscapeString(texts[lead][sourcePrefixLen(texts[lead]):])
	var b strings.Builder
	for i, t := range texts[lead:] {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString("<p>")
		b.WriteString(html.EscapeString(t))
		b.WriteString("</p>")
	}
	in.ContentHTML = b.String()
	return in, nil
}

// decodeText turns a file into the text every reader matches against:
// valid UTF-8 without a leading BOM, LF line ends, NFC.
func decodeText(data []byte) (string, error) {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	if !utf8.Valid(data) {
		i := 0
		for i < len(data) {
			r, n := utf8.DecodeRune(data[i:])
			if r == utf8.RuneError && n <= 1 {
				break
			}
			i += n
		}
		line := 1 + strings.Count(normalizeNewlines(string(data[:i])), "\n")
		return "", &LineError{Line: line, Reason: "not valid UTF-8; save the file as UTF-8"}
	}
	return norm.NFC.String(normalizeNewlines(string(data))), nil
}

// normalizeNewlines makes CRLF and a lone CR (old Mac files) into LF.
func normalizeNewlines(s string) string {
	if !strings.Contains(s, "\r") {
		return s
	}
	return strings.ReplaceAll(strings.ReplaceAll(s, "\r\n", "\n"), "\r", "\n")
}

// isSpace is white space as a page means it: Unicode white space, which
// includes the no-break space that web pages leave on "empty" lines, and
// the zero-width characters that copy and paste brings along.
func isSpace(r rune) bool {
	return unicode.IsSpace(r) || r == '\u200B' || r == '\u2060' || r == '\uFEFF'
}

// block is a run of non-blank lines.
type block struct {
	line  int      // 1-based line of the file where the block starts
	lines []string // white space trimmed from both ends
}

// text is the block as one paragraph: a line break inside a block is a
// wrapped line, not a new paragraph (SPEC §5: one paragraph per block).
func (b block) text() string { return strings.Join(b.lines, " ") }

func splitBlocks(lines []string) []block {
	var blocks []block
	open := false
	for i, l := range lines {
		l = strings.TrimFunc(l, isSpace)
		if l == "" {
			open = false
			continue
		}
		if !open {
			blocks = append(blocks, block{line: i + 1})
			open = true
		}
		b := &blocks[len(blocks)-1]
		b.lines = append(b.lines, l)
	}
	return blocks
}

// firstLineAfter returns the 0-based index of the first non-blank line at
// or after index i, or -1 when there is none.
func firstLineAfter(lines []string, i int) int {
	for j := i; j < len(lines); j++ {
		if strings.TrimFunc(lines[j], isSpace) != "" {
			return j
		}
	}
	return -1
}

// takeDateLine reads the first block as the date line and returns the
// blocks after it. A page that runs the date and the title together
// without a blank line between them is read too: the date is then the
// first line alone.
func takeDateLine(blocks []block, loc *time.Location) (time.Time, string, []block, error) {
	b := blocks[0]
	t, err := ParseDateLine(b.text(), loc)
	if err == nil {
		return t, b.text(), blocks[1:], nil
	}
	if errors.Is(err, errNotDateLine) && len(b.lines) > 1 {
		t, err1 := ParseDateLine(b.lines[0], loc)
		if err1 == nil {
			blocks[0] = block{line: b.line + 1, lines: b.lines[1:]}
			return t, b.lines[0], blocks, nil
		}
		if !errors.Is(err1, errNotDateLine) {
			err = err1
		}
	}
	if errors.Is(err, errNotDateLine) {
		return time.Time{}, "", nil, &LineError{Line: b.line, Reason: fmt.Sprintf(
			"%q is not a date line; a page starts with a date line such as %s",
			excerpt(b.lines[0], 60), DateLineForms)}
	}
	return time.Time{}, "", nil, &LineError{Line: b.line, Reason: "date line: " + err.Error()}
}

// cutChrome drops everything from the first chrome heading line on.
func cutChrome(blocks []block) []block {
	for i, b := range blocks {
		for j, l := range b.lines {
			if isChromeHeading(l) {
				if j == 0 {
					return blocks[:i]
				}
				blocks[i].lines = b.lines[:j]
				return blocks[:i+1]
			}
		}
	}
	return blocks
}

func isChromeHeading(line string) bool {
	if len(line) > 40 { // longer than the longest heading; most lines are
		return false
	}
	line = collapseSpace(line)
	for _, h := range chromeHeadings {
		if strings.EqualFold(line, h) {
			return true
		}
	}
	return false
}

// findLead returns the index of the lead among the body blocks: the first
// that starts "(Source) - ", else the first long one if few enough short
// blocks precede it to be a caption, else the first block.
func findLead(texts []string) int {
	for i, t := range texts {
		if sourcePrefixLen(t) > 0 {
			return i
		}
	}
	for i, t := range texts {
		if i > maxCaptionBlocks {
			break
		}
		if utf8.RuneCountInString(t) >= leadMinRunes {
			return i
		}
	}
	return 0
}

// sourcePrefixLen returns the length of a leading "(Source) - " (hyphen,
// en dash or em dash; white space around the dash), or 0 when s has none or
// nothing follows it.
func sourcePrefixLen(s string) int {
	if !strings.HasPrefix(s, "(") {
		return 0
	}
	end := strings.IndexByte(s, ')')
	if end < 0 {
		return 0
	}
	src := strings.TrimFunc(s[1:end], isSpace)
	if src == "" || strings.ContainsRune(src, '(') || utf8.RuneCountInString(src) > sourceMaxRunes {
		return 0
	}
	i := end + 1
	i += len(s[i:]) - len(strings.TrimLeftFunc(s[i:], isSpace))
	r, n := utf8.DecodeRuneInString(s[i:])
	if r != '-' && r != '–' && r != '—' {
		return 0
	}
	i += n
	rest := strings.TrimLeftFunc(s[i:], isSpace)
	if len(rest) == len(s[i:]) || rest == "" {
		return 0 // no space after the dash: "(a)-b" is not a source
	}
	return len(s) - len(rest)
}

// authorOf reports whether the last block of a page is a byline and
// returns the name without a credit prefix such as "Bài, ảnh:". "Theo X"
// and "Nguồn: X" name a source, and "Ảnh: X" a photographer; they stay in
// the body.
func authorOf(s string) (string, bool) {
	if sourcePrefixLen(s) > 0 {
		return "", false
	}
	if label, name, ok := strings.Cut(s, ":"); ok && len(label) <= 24 {
		if !isCreditLabel(label) {
			return "", false // "Ảnh: X", "Nguồn: X", "Liên hệ: …"
		}
		s = strings.TrimFunc(name, isSpace)
	}
	s = collapseSpace(s)
	n := utf8.RuneCountInString(s)
	if n == 0 || n > authorMaxRunes || strings.ContainsRune(s, ':') {
		return "", false
	}
	if hasPrefixFold(s, "theo ") {
		return "", false
	}
	// "No final period" (SPEC) made stricter: a name ends in a letter, or
	// in ")" as in "Minh Anh (TTXVN)"; a short closing line such as
	// "“Cảm ơn bạn!”" or "Hết" followed by a period is body.
	last, _ := utf8.DecodeLastRuneInString(s)
	if !unicode.IsLetter(last) && last != ')' {
		return "", false
	}
	return s, true
}

// isCreditLabel reports whether label, the part before ":", says who wrote
// the article: "Bài", "Tin", "Bài, ảnh", "Bài và ảnh", "Tin/ảnh", "Thực
// hiện", in any case and spacing.
func isCreditLabel(label string) bool {
	label = strings.ToLower(label)
	label = strings.ReplaceAll(label, "và", "")
	label = strings.Map(func(r rune) rune {
		if isSpace(r) || strings.ContainsRune(",/&+-", r) {
			return -1
		}
		return r
	}, label)
	switch label {
	case "bài", "tin", "bàiảnh", "tinảnh", "ảnhbài", "tinbài", "thựchiện":
		return true
	}
	return false
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// collapseSpace trims s and makes every run of white space one space.
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if isSpace(r) {
			space = true
			continue
		}
		if space && b.Len() > 0 {
			b.WriteByte(' ')
		}
		space = false
		b.WriteRune(r)
	}
	return b.String()
}

// excerpt shortens s to at most n runes for an error message.
func excerpt(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	i := 0
	for range n {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + "…"
}
