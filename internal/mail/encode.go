package mail

import (
	"net/mail"
	"strings"
	"unicode/utf8"
)

// maxFirstWord is the longest encoded word that go-mail (and Bulk) keep
// on the line of the field name: "Subject: " plus a word of this length
// stays within 76 columns, so a header never starts with a fold right
// after the colon, which Python's email (compat32) and older clients read
// as a leading space.
const maxFirstWord = 63

// encodeText is an unstructured header value (a Subject) ready to write:
// as it is when it is plain ASCII, else RFC 2047 Q-encoded words of at
// most maxFirstWord characters, which the header writer folds between.
// "=?" in the text is text: a value holding it is encoded whole, so a
// reader never decodes what someone typed as an encoded word.
func encodeText(s string) string {
	if !needsWords(s) {
		return s
	}
	return qWords(s)
}

// needsWords reports whether s cannot go into a header as it is: it has
// non-ASCII text, looks like an encoded word, or has a word too long to
// stay on the field name's line.
func needsWords(s string) bool {
	if !isASCII(s) || strings.Contains(s, "=?") {
		return true
	}
	for w := range strings.FieldsSeq(s) {
		if len(w) > maxFirstWord {
			return true
		}
	}
	return false
}

// qWords Q-encodes s into encoded words separated by spaces, each at most
// maxFirstWord characters, never splitting a character between words.
func qWords(s string) string {
	const prefix, suffix = "=?UTF-8?q?", "?="
	limit := maxFirstWord - len(prefix) - len(suffix)
	var out, word strings.Builder
	flush := func() {
		if word.Len() == 0 {
			return
		}
		if out.Len() > 0 {
			out.WriteByte(' ')
		}
		out.WriteString(prefix + word.String() + suffix)
		word.Reset()
	}
	var buf [utf8.UTFMax]byte
	for _, r := range s {
		var enc string
		switch {
		case r == ' ':
			enc = "_"
		case r < utf8.RuneSelf && isQSafe(byte(r)):
			enc = string(r)
		default:
			n := utf8.EncodeRune(buf[:], r)
			var b strings.Builder
			for _, c := range buf[:n] {
				b.WriteByte('=')
				b.WriteByte("0123456789ABCDEF"[c>>4])
				b.WriteByte("0123456789ABCDEF"[c&15])
			}
			enc = b.String()
		}
		if word.Len()+len(enc) > limit {
			flush()
		}
		word.WriteString(enc)
	}
	flush()
	return out.String()
}

// isQSafe reports whether c may stand for itself in a Q-encoded word in
// a phrase (RFC 2047 §5 (3)): letters, digits and "!*+-/".
func isQSafe(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("!*+-/", c) >= 0
}

// formatAddress writes a as a header address. It is net/mail's form,
// except for a display name holding "=?": net/mail puts such an ASCII
// name in a quoted string, which some clients decode as an encoded word
// (and so show another address); here the whole name is one run of
// encoded words, which decodes back to exactly what was typed.
func formatAddress(a mail.Address) string {
	if !strings.Contains(a.Name, "=?") {
		return a.String()
	}
	return qWords(a.Name) + " " + (&mail.Address{Address: a.Address}).String()
}
