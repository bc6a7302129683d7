package article

import (
	"net/url"
	"strings"

	"golang.org/x/net/html/atom"

	"golang.org/x/net/html"
)

// sanitizeHTML removes everything unsafe from s and makes its links and
// image sources absolute against base, so the HTML stands on its own in a
// feed reader or an email.
func (n *Normalizer) sanitizeHTML(base *url.URL, s string) string {
	// bluemonday decodes character references in text and writes back only
	// <, >, &, ' and ": a &#x1; comes out raw, so the output is cleaned too.
	clean := cleanText(s)
	var out string
	if n.safe.unchanged(clean) && balanced(clean) {
		// What the policy and balance would write back, with no
		// character reference to decode: as XML-valid as cleanText made it.
		out = strings.TrimSpace(clean)
	} else {
		out = RemoveXMLInvalid(strings.TrimSpace(balance(n.policy.Sanitize(clean))))
	}
	if !hasRelativeURL(out) {
		return out
	}
	return resolveURLs(base, out)
}

// balance parses sanitized HTML as the content of a <div>, as the article
// page and an email hold it, and writes the tree back: every element is
// closed and stray end tags are gone, so an article's "</div></div>" or
// unclosed "<details open>" cannot reach into the page around it. Text
// without markup is returned as it is.
func balance(s string) string {
	if balanced(s) {
		return s
	}
	context := &html.Node{Type: html.ElementNode, Data: "div", DataAtom: atom.Div}
	nodes, err := html.ParseFragment(strings.NewReader(s), context)
	if err != nil {
		// Reading from a string fails only on input the parser cannot
		// hold (too deeply nested): nothing of it is kept.
		return ""
	}
	var b strings.Builder
	b.Grow(len(s) + 64)
	for _, node := range nodes {
		if err := html.Render(&b, node); err != nil {
			return ""
		}
	}
	// Render ends void elements with "/>" where bluemonday writes ">".
	// Text and attribute values have their ">" escaped and no raw-text
	// element survives the policy, so "/>" ends a void element only:
	// written as bluemonday does, well-formed articles come out as before.
	return strings.ReplaceAll(b.String(), "/>", ">")
}

// voidElements have no end tag.
var voidElements = map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true,
	"img": true, "input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}

// balanced reports sanitized HTML whose every element is closed, in order,
// with no end tag of an element not open: most articles, which are spared
// a parse. bluemonday writes lowercase names, escapes "<" and ">" in text
// and attribute values, and drops comments, so a scan for "<" finds every
// tag. Anything else it is unsure of (a "<!", a non-void element written
// "<div/>") counts as unbalanced.
func balanced(s string) bool {
	var open []string
	for {
		i := strings.IndexByte(s, '<')
		if i < 0 {
			return len(open) == 0
		}
		s = s[i+1:]
		end := strings.IndexByte(s, '>')
		if end < 0 {
			return false
		}
		tag := s[:end]
		s = s[end+1:]
		if name, ok := strings.CutPrefix(tag, "/"); ok {
			if len(open) == 0 || open[len(open)-1] != name {
				return false
			}
			open = open[:len(open)-1]
			continue
		}
		name := tag
		if j := strings.IndexAny(tag, " \t\n\f\r/"); j >= 0 {
			name = tag[:j]
		}
		switch {
		case name == "" || !isTagName(name):
			return false
		case voidElements[name]:
		case strings.HasSuffix(tag, "/"):
			return false
		default:
			open = append(open, name)
		}
	}
}

// isTagName reports a lowercase ASCII element name.
func isTagName(name string) bool {
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

// hasRelativeURL is a cheap check on sanitized HTML (bluemonday always
// writes attributes in double quotes) that spares most articles a second
// parse.
func hasRelativeURL(s string) bool {
	for _, attr := range []string{` href="`, ` src="`} {
		rest := s
		for {
			i := strings.Index(rest, attr)
			if i < 0 {
				break
			}
			rest = rest[i+len(attr):]
			if !strings.HasPrefix(rest, "http://") && !strings.HasPrefix(rest, "https://") && !strings.HasPrefix(rest, "mailto:") {
				return true
			}
		}
	}
	return false
}

// resolveURLs rewrites relative href and src attributes of sanitized HTML
// against base. bluemonday writes every attribute as name="value" with the
// value escaped and escapes every quote in text, so ` href="` appears only
// inside a tag and a scan is enough: no second parse of the document.
func resolveURLs(base *url.URL, s string) string {
	var b strings.Builder
	b.Grow(len(s) + 256)
	// Where each attribute occurs next in s (-1: nowhere), kept between
	// rounds: searching both again each round made long articles
	// quadratic in their links.
	const href, src = ` href="`, ` src="`
	nextHref, nextSrc := strings.Index(s, href), strings.Index(s, src)
	for {
		start, attr := nextHref, href
		if nextSrc >= 0 && (start < 0 || nextSrc < start) {
			start, attr = nextSrc, src
		}
		if start < 0 {
			b.WriteString(s)
			return b.String()
		}
		valueStart := start + len(attr)
		end := strings.IndexByte(s[valueStart:], '"')
		if end < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:valueStart])
		b.WriteString(resolveAttr(base, s[valueStart:valueStart+end]))
		cut := valueStart + end
		s = s[cut:]
		next := func(at int, attr string) int {
			if at < 0 {
				return -1
			}
			if at >= cut {
				return at - cut
			}
			return strings.Index(s, attr)
		}
		nextHref, nextSrc = next(nextHref, href), next(nextSrc, src)
	}
}

// resolveAttr resolves one escaped attribute value against base and
// returns it escaped. A site path of plain characters ("/tin/1-2.html",
// the common case) is the base's origin and the path as written:
// TestResolveAttrPlainPaths and FuzzResolveAttr hold it to
// url.URL.ResolveReference.
func resolveAttr(base *url.URL, escaped string) string {
	if plainSitePath(escaped) && base.User == nil && base.Opaque == "" && base.Host != "" && plainSitePath("/"+base.Host) {
		return base.Scheme + "://" + base.Host + escaped
	}
	value := html.UnescapeString(escaped)
	if u, err := url.Parse(value); err == nil && !u.IsAbs() {
		value = base.ResolveReference(u).String()
	}
	return html.EscapeString(value)
}

// plainSitePath reports a path from the root of letters, digits and
// "-._~/" with no empty, "." or ".." segment: nothing to unescape,
// escape or clean.
func plainSitePath(p string) bool {
	if len(p) < 2 || p[0] != '/' {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9', c == '-', c == '_', c == '~':
		case c == '/':
			if i+1 < len(p) && (p[i+1] == '/' || p[i+1] == '.') {
				return false
			}
		case c == '.':
		default:
			return false
		}
	}
	return true
}

// blockElements end a run of text: their boundaries become a space when
// HTML is reduced to text, inline elements' do not.
var blockElements = map[string]bool{
	"p": true, "div": true, "br": true, "li": true, "ul": true, "ol": true, "h1": true, "h2": true, "h3": true,
	"h4": true, "h5": true, "h6": true, "figure": true, "figcaption": true, "blockquote": true, "tr": true,
	"td": true, "th": true, "table": true, "hr": true, "pre": true, "section": true, "article": true,
	"header": true, "footer": true, "dd": true, "dt": true, "img": true,
}

// skippedElements hold no reader-visible text.
var skippedElements = map[string]bool{"script": true, "style": true, "template": true, "noscript": true, "iframe": true, "object": true}

// HTMLToText reduces HTML (or plain text with entities) to the text a
// reader sees, on one line: entities read, tags dropped, blocks separated
// by a space, scripts and styles left out.
func HTMLToText(s string) string {
	if !strings.ContainsAny(s, "<&") {
		return collapseSpace(s)
	}
	var b strings.Builder
	b.Grow(len(s))
	z := html.NewTokenizer(strings.NewReader(s))
	skip := 0
	for {
		switch z.Next() {
		case html.ErrorToken:
			return collapseSpace(b.String())
		case html.TextToken:
			if skip == 0 {
				b.Write(z.Text())
			}
		case html.StartTagToken, html.SelfClosingTagToken:
			name, _ := z.TagName()
			if skippedElements[string(name)] {
				skip++
			} else if blockElements[string(name)] {
				b.WriteByte(' ')
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if skippedElements[string(name)] && skip > 0 {
				skip--
			} else if blockElements[string(name)] {
				b.WriteByte(' ')
			}
		}
	}
}
