package article

import (
	"net/url"
	"strings"

	"golang.org/x/net/html"
)

// sanitizeHTML removes everything unsafe from s and makes its links and
// image sources absolute against base, so the HTML stands on its own in a
// feed reader or an email.
func (n *Normalizer) sanitizeHTML(base *url.URL, s string) string {
	out := strings.TrimSpace(n.policy.Sanitize(cleanText(s)))
	if !hasRelativeURL(out) {
		return out
	}
	return resolveURLs(base, out)
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

// resolveURLs rewrites relative href and src attributes of s against base.
// Tokens without such attributes are copied byte for byte.
func resolveURLs(base *url.URL, s string) string {
	var b strings.Builder
	b.Grow(len(s) + 256)
	z := html.NewTokenizer(strings.NewReader(s))
	for {
		tt := z.Next()
		if tt == html.ErrorToken {
			return b.String()
		}
		if tt != html.StartTagToken && tt != html.SelfClosingTagToken {
			b.Write(z.Raw())
			continue
		}
		raw := string(z.Raw())
		tok := z.Token()
		changed := false
		for i, a := range tok.Attr {
			if a.Key != "href" && a.Key != "src" {
				continue
			}
			u, err := url.Parse(a.Val)
			if err != nil || u.IsAbs() {
				continue
			}
			tok.Attr[i].Val = base.ResolveReference(u).String()
			changed = true
		}
		if changed {
			b.WriteString(tok.String())
		} else {
			b.WriteString(raw)
		}
	}
}
