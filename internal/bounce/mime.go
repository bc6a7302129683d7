package bounce

import (
	"bufio"
	"encoding/base64"
	"fmt"
	"html"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"regexp"
	"strings"

	"golang.org/x/text/encoding/ianaindex"
	"golang.org/x/text/unicode/norm"
)

// Bounds on what one message may make the walker hold, whatever MaxBytes.
const (
	maxPartText  = 256 << 10 // text read from one part
	maxText      = 1 << 20   // text kept from all parts
	maxFieldPart = 64 << 10  // a delivery-status or feedback-report part
	maxBlocks    = 2 * maxRecipients
)

// walker goes through a message's MIME tree once and keeps what a bounce
// is read from.
type walker struct {
	opts      Options
	parts     int
	textBytes int
	// texts are the human-readable parts (HTML made text), in order.
	texts []string
	// dsn are the blocks of every message/delivery-status part.
	dsn []fields
	// feedback is the message/feedback-report part of an ARF report.
	feedback fields
	// original is the header of the returned message, when there is one.
	original mail.Header
	// topFailed is the message's X-Failed-Recipients header (Exim, Gmail).
	topFailed string
}

func textprotoHeader(h mail.Header) textproto.MIMEHeader { return textproto.MIMEHeader(h) }

func (w *walker) walk(h textproto.MIMEHeader, body io.Reader, depth int) {
	w.parts++
	if w.parts > w.opts.MaxParts {
		return
	}
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil || mediaType == "" {
		mediaType, params = "text/plain", map[string]string{}
	}
	switch {
	case strings.HasPrefix(mediaType, "multipart/"):
		if depth >= w.opts.MaxDepth || params["boundary"] == "" {
			return
		}
		mr := multipart.NewReader(body, params["boundary"])
		for w.parts < w.opts.MaxParts {
			p, err := mr.NextPart()
			if err != nil {
				// The end, or a part cut by MaxBytes: what came before it
				// is kept.
				return
			}
			w.walk(p.Header, p, depth+1)
		}
	case mediaType == "message/delivery-status", mediaType == "message/global-delivery-status":
		w.dsn = append(w.dsn, parseBlocks(readPart(h, body, maxFieldPart))...)
	case mediaType == "message/feedback-report":
		if w.feedback == nil {
			w.feedback = fields{}
			for _, b := range parseBlocks(readPart(h, body, maxFieldPart)) {
				for k, v := range b {
					if _, ok := w.feedback[k]; !ok {
						w.feedback[k] = v
					}
				}
			}
		}
	case mediaType == "message/rfc822", mediaType == "message/global":
		w.setOriginal(readPart(h, body, maxPartText))
	case mediaType == "text/rfc822-headers", mediaType == "message/rfc822-headers", mediaType == "message/global-headers":
		w.setOriginal(readPart(h, body, maxPartText) + "\r\n\r\n")
	case strings.HasPrefix(mediaType, "text/"):
		if w.textBytes >= maxText {
			return
		}
		text := decodeCharset(readPart(h, body, maxPartText), params["charset"])
		if mediaType == "text/html" {
			text = htmlText(text)
		}
		w.textBytes += len(text)
		w.texts = append(w.texts, text)
	}
}

// setOriginal keeps the header of the first returned message.
func (w *walker) setOriginal(raw string) {
	if w.original != nil {
		return
	}
	if msg, err := mail.ReadMessage(bufio.NewReader(strings.NewReader(raw))); err == nil && len(msg.Header) > 0 {
		w.original = msg.Header
	}
}

// finish looks for a returned message written inline after the text's
// "copy of the message" line (qmail, Exim), when no part carried one.
func (w *walker) finish() {
	if w.original != nil {
		return
	}
	for _, t := range w.texts {
		if _, after, ok := cutAtCopy(t); ok {
			w.setOriginal(strings.TrimLeft(after, "\r\n \t"))
			if w.original != nil {
				return
			}
		}
	}
}

// readPart reads at most limit bytes of a part's body, undoing its
// Content-Transfer-Encoding (multipart already undoes quoted-printable).
func readPart(h textproto.MIMEHeader, body io.Reader, limit int64) string {
	var r io.Reader = body
	switch strings.ToLower(strings.TrimSpace(h.Get("Content-Transfer-Encoding"))) {
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, &base64Filter{r: body})
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	}
	data, _ := io.ReadAll(io.LimitReader(r, limit))
	// Whatever is left is drained by the multipart reader or never read.
	return string(data)
}

// base64Filter drops what the standard decoder refuses between groups
// (spaces, stray characters) so that a sloppy encoder's text still reads.
type base64Filter struct{ r io.Reader }

func (f *base64Filter) Read(p []byte) (int, error) {
	for {
		n, err := f.r.Read(p)
		j := 0
		for _, c := range p[:n] {
			if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '+' || c == '/' || c == '=' {
				p[j] = c
				j++
			}
		}
		if j > 0 || err != nil {
			return j, err
		}
	}
}

// decodeCharset makes text UTF-8; unknown charsets are read as UTF-8 with
// bad bytes replaced.
func decodeCharset(s, charset string) string {
	charset = strings.ToLower(strings.TrimSpace(charset))
	if charset != "" && charset != "utf-8" && charset != "us-ascii" && charset != "utf8" {
		if enc, err := ianaindex.MIME.Encoding(charset); err == nil && enc != nil {
			if out, err := enc.NewDecoder().String(s); err == nil {
				s = out
			}
		}
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

var wordDecoder = &mime.WordDecoder{CharsetReader: func(charset string, input io.Reader) (io.Reader, error) {
	enc, err := ianaindex.MIME.Encoding(charset)
	if err != nil {
		return nil, fmt.Errorf("charset %q: %w", charset, err)
	}
	if enc == nil {
		// Known to the index but not supported (UTF-7 and the like).
		return nil, fmt.Errorf("charset %q is not supported", charset)
	}
	return enc.NewDecoder().Reader(input), nil
}}

// decodeHeader undoes RFC 2047 encoded words and composes the text (NFC),
// so that subjects compare as typed.
func decodeHeader(s string) string {
	if out, err := wordDecoder.DecodeHeader(s); err == nil {
		s = out
	}
	return norm.NFC.String(strings.ToValidUTF8(s, "\uFFFD"))
}

var (
	htmlBreak = regexp.MustCompile(`(?i)<\s*(br|/p|/div|/tr|/li|/h[1-6]|p|div|tr|li)\b[^>]*>`)
	htmlTag   = regexp.MustCompile(`(?s)<[^>]*>`)
	htmlDrop  = regexp.MustCompile(`(?is)<(style|script|head)\b.*?</(style|script|head)\s*>`)
)

// htmlText is the readable text of an HTML part: enough to find addresses,
// codes and phrases in (Exchange sends its notice as HTML only).
func htmlText(s string) string {
	s = htmlDrop.ReplaceAllString(s, " ")
	s = htmlBreak.ReplaceAllString(s, "\n")
	s = htmlTag.ReplaceAllString(s, "")
	return html.UnescapeString(s)
}

// fields are the "Name: value" lines of one block of a delivery-status or
// feedback-report part, names lower-cased; the first of a name is kept.
type fields map[string]string

func (f fields) get(name string) string { return f[strings.ToLower(name)] }

// parseBlocks reads the blank-line separated blocks of header-like fields
// of RFC 3464 and RFC 5965 parts, with folded lines joined (a field is
// kept to maxField bytes).
func parseBlocks(text string) []fields {
	const maxField = 4 << 10
	var (
		out  []fields
		cur  map[string]*strings.Builder
		last *strings.Builder
	)
	end := func() {
		if cur == nil {
			return
		}
		f := fields{}
		for k, b := range cur {
			f[k] = b.String()
		}
		out = append(out, f)
		cur, last = nil, nil
	}
	for _, line := range strings.Split(strings.ReplaceAll(text, "\r\n", "\n"), "\n") {
		line = strings.TrimRight(line, "\r")
		if strings.TrimSpace(line) == "" {
			end()
			if len(out) >= maxBlocks {
				break
			}
			continue
		}
		if line[0] == ' ' || line[0] == '\t' {
			if last != nil && last.Len() < maxField {
				last.WriteByte(' ')
				last.WriteString(strings.TrimSpace(line))
			}
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			continue
		}
		if cur == nil {
			cur = map[string]*strings.Builder{}
		}
		if _, seen := cur[name]; seen {
			last = nil // the first of a name is kept
			continue
		}
		last = &strings.Builder{}
		last.WriteString(strings.TrimSpace(value))
		cur[name] = last
	}
	if len(out) < maxBlocks {
		end()
	}
	return out
}

// copyLine finds the line that starts the returned message in a text
// bounce: "--- Below this line is a copy of the message." (qmail),
// "------ This is a copy of the message, including all the headers."
// (Exim), "----- Original message -----" and the like.
var copyLine = regexp.MustCompile(`(?im)^[ \t]*-{2,}.*(copy of|original message|returned message|original headers|message headers follow|below this line).*$`)

// cutAtCopy splits a text bounce before its returned message.
func cutAtCopy(text string) (before, after string, found bool) {
	loc := copyLine.FindStringIndex(text)
	if loc == nil {
		return text, "", false
	}
	return text[:loc[0]], text[loc[1]:], true
}

// oneLine makes s one line of at most max runes, without control
// characters, and valid UTF-8.
func oneLine(s string, max int) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	var b strings.Builder
	space, n := false, 0
	for _, r := range s {
		if r < ' ' || r == 0x7f || r == '\u2028' || r == '\u2029' || (r >= 0x80 && r < 0xa0) {
			r = ' '
		}
		if r == ' ' {
			space = true
			continue
		}
		if n >= max {
			break
		}
		if space && b.Len() > 0 {
			if n+1 >= max {
				break
			}
			b.WriteByte(' ')
			n++
		}
		space = false
		b.WriteRune(r)
		n++
	}
	return b.String()
}
