package article

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/net/html"
)

// summaryBlocks end a sentence of a summary made from the body: a heading,
// a paragraph, a quote, a list item, a caption or a cell is a sentence of
// its own. A <br> is not: it breaks a line within one block.
var summaryBlocks = map[string]bool{
	"p": true, "div": true, "li": true, "ul": true, "ol": true, "h1": true, "h2": true, "h3": true,
	"h4": true, "h5": true, "h6": true, "figure": true, "figcaption": true, "blockquote": true, "tr": true,
	"td": true, "th": true, "table": true, "hr": true, "pre": true, "section": true, "article": true,
	"header": true, "footer": true, "dd": true, "dt": true, "dl": true, "caption": true,
}

// BodySummary reduces article HTML to the one paragraph a feed reader
// shows as its summary: each block (heading, paragraph, quote, list item)
// its own sentence, so that a heading without a final period does not run
// into the next paragraph ("…vụ trước. Đầu ra ổn định. Ông Trần…").
func BodySummary(s string) string {
	var out strings.Builder
	out.Grow(len(s))
	var block strings.Builder
	flush := func() {
		text := collapseSpace(block.String())
		block.Reset()
		if text == "" {
			return
		}
		if out.Len() > 0 {
			if !endsSentence(out.String()) {
				out.WriteByte('.')
			}
			out.WriteByte(' ')
		}
		out.WriteString(text)
	}
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			flush()
			return out.String()
		case html.TextToken:
			if skip == 0 {
				block.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken, html.EndTagToken:
			name, _ := z.TagName()
			switch {
			case skippedElements[string(name)]:
				if tt == html.EndTagToken {
					skip = max(skip-1, 0)
				} else if tt == html.StartTagToken {
					skip++
				}
			case summaryBlocks[string(name)]:
				flush()
			case string(name) == "br":
				block.WriteByte(' ')
			}
		}
	}
}

// endsSentence reports text that already ends a sentence or announces
// what follows (".", "!", "?", "…", ":", ";"), possibly inside closing
// quotes or brackets: no period is added after it.
func endsSentence(s string) bool {
	for s != "" {
		r, size := utf8.DecodeLastRuneInString(s)
		switch {
		case strings.ContainsRune(".!?…:;", r):
			return true
		case strings.ContainsRune(`"')]»”’›`, r) || unicode.Is(unicode.Pe, r) || unicode.Is(unicode.Pf, r):
			s = s[:len(s)-size]
		default:
			return false
		}
	}
	return false
}

// TitleText is a title as stored: plain text as given, in NFC, on one
// line, without control characters or what XML 1.0 forbids. Text that
// looks like markup is kept; outputs escape it.
func TitleText(s string) string {
	s = cleanText(s)
	if strings.IndexFunc(s, isDroppedControl) >= 0 {
		s = strings.Map(func(r rune) rune {
			if isDroppedControl(r) {
				return -1
			}
			return r
		}, s)
	}
	return oneLine(s)
}

// isDroppedControl reports the control characters a title loses: C0 and
// C1 controls and DEL, but not the white space oneLine makes a space.
func isDroppedControl(r rune) bool {
	return unicode.IsControl(r) && !unicode.IsSpace(r)
}
