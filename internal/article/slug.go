package article

import (
	"strings"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// maxSlugBytes keeps URLs readable; slugs are cut at a word boundary.
const maxSlugBytes = 80

// Slugify returns the ASCII URL slug of a title: Vietnamese letters lose
// their marks ("Công tác dân vận" → "cong-tac-dan-van", đ → d), everything
// that is not a letter or digit becomes a hyphen. It returns "" for a title
// with no Latin letters or digits; the caller chooses a fallback.
func Slugify(title string) string {
	var b strings.Builder
	b.Grow(len(title))
	hyphen := false
	for _, r := range norm.NFD.String(title) {
		switch {
		case unicode.Is(unicode.Mn, r):
			continue
		case r == 'đ' || r == 'Đ':
			r = 'd'
		case r >= 'A' && r <= 'Z':
			r += 'a' - 'A'
		}
		if r >= 'a' && r <= 'z' || r >= '0' && r <= '9' {
			if hyphen && b.Len() > 0 {
				b.WriteByte('-')
			}
			hyphen = false
			b.WriteRune(r)
			continue
		}
		hyphen = true
	}
	s := b.String()
	if len(s) > maxSlugBytes {
		s = s[:maxSlugBytes]
		if i := strings.LastIndexByte(s, '-'); i > maxSlugBytes/2 {
			s = s[:i]
		}
		s = strings.TrimRight(s, "-")
	}
	return s
}
