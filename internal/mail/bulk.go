package mail

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"

	"golang.org/x/text/unicode/norm"
)

// Bulk is one message sent to many people who each see a few values of
// their own (a name, personal links). Its headers and parts are checked,
// normalised and encoded once; a copy encodes only the lines that hold a
// personal value. A digest to 20,000 subscribers spends its time on the
// wire, not in templates and quoted-printable.
//
// A copy is what Render makes of the same Message, written by bantin
// rather than go-mail: the same headers (in another order), the same
// multipart/alternative layout with text/plain first, the same
// quoted-printable parts and RFC 2047 words.
type Bulk struct {
	from      mail.Address
	loc       *time.Location
	keys      []string // the placeholders, in the order of a copy's values
	before    []byte   // headers before To, with Message-ID and Date left out
	afterTo   []byte   // Subject and the headers after To up to the extra ones
	extra     []headerTemplate
	bodyParts [][]chunk // text, then HTML when there is one
	boundary  string
	// sharedCanonical: every shared run of the parts is its own DKIM
	// relaxed canonical form, so that a copy whose personal lines are too
	// can be signed as it is (Message.RawCanonical).
	sharedCanonical bool
}

// maxDisplayName is the longest To display name a copy carries, in runes:
// the longest a subscriber may give. Encoded, a name is split into words
// a line can fold between; a plain one of this length fits a line.
const maxDisplayName = 100

// chunk is a run of encoded lines shared by every copy, or one line that
// holds a placeholder and is encoded per copy.
type chunk struct {
	shared   []byte
	personal string // the raw line, CRLF included when it has one
}

type headerTemplate struct {
	name, value string
	personal    bool
}

// BulkMessage is a Message whose Text, HTML and Headers may hold
// placeholders: strings that each copy replaces with its own values.
type BulkMessage struct {
	From    mail.Address
	ReplyTo *mail.Address
	Subject string
	Text    string
	HTML    string
	Headers map[string]string
}

// NewBulk prepares m, whose placeholders are keys; the Date header is
// written in loc.
func NewBulk(m BulkMessage, keys []string, loc *time.Location) (*Bulk, error) {
	if loc == nil {
		loc = time.UTC
	}
	from, err := cleanAddress("From", m.From)
	if err != nil {
		return nil, err
	}
	subject, err := cleanValue("Subject", m.Subject)
	if err != nil {
		return nil, err
	}
	if m.Text == "" {
		return nil, fmt.Errorf("%w: no text part", ErrInvalid)
	}
	b := &Bulk{from: *from, loc: loc, keys: keys}
	var head bytes.Buffer
	writeHeader(&head, "From", from.String())
	b.before = slices.Clone(head.Bytes())
	head.Reset()
	head.WriteString("MIME-Version: 1.0\r\n")
	if m.ReplyTo != nil {
		replyTo, err := cleanAddress("Reply-To", *m.ReplyTo)
		if err != nil {
			return nil, err
		}
		writeHeader(&head, "Reply-To", replyTo.String())
	}
	writeHeader(&head, "Subject", encodeText(subject))
	b.afterTo = slices.Clone(head.Bytes())

	names := make([]string, 0, len(m.Headers))
	for name := range m.Headers {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if !isToken(name) || slices.Contains(reserved, textproto.CanonicalMIMEHeaderKey(name)) {
			return nil, fmt.Errorf("%w: header %q", ErrInvalid, name)
		}
		value, err := cleanValue(name, m.Headers[name])
		if err != nil {
			return nil, err
		}
		b.extra = append(b.extra, headerTemplate{name: name, value: value, personal: b.holdsKey(value)})
	}

	text := body(m.Text)
	b.bodyParts = append(b.bodyParts, b.chunks(text))
	html := ""
	if m.HTML != "" {
		html = body(m.HTML)
		b.bodyParts = append(b.bodyParts, b.chunks(html))
	}
	// The boundary is a hash of the content with the placeholders named by
	// their position: it cannot occur in the parts, and the same issue
	// gets the same one whatever placeholders stood in it.
	pairs := make([]string, 0, 2*len(keys))
	for i, k := range keys {
		pairs = append(pairs, k, fmt.Sprintf("\x00%d\x00", i))
	}
	named := strings.NewReplacer(pairs...)
	sum := sha256.Sum256([]byte(subject + "\x00" + named.Replace(text) + "\x00" + named.Replace(html)))
	b.boundary = "bantin-" + hex.EncodeToString(sum[:16])
	b.sharedCanonical = true
	for _, part := range b.bodyParts {
		for _, c := range part {
			b.sharedCanonical = b.sharedCanonical && (c.shared == nil || canonicalLines(c.shared))
		}
	}
	return b, nil
}

func (b *Bulk) holdsKey(s string) bool {
	for _, k := range b.keys {
		if strings.Contains(s, k) {
			return true
		}
	}
	return false
}

// chunks splits a part (NFC, CRLF) into shared runs, encoded now, and
// personal lines.
func (b *Bulk) chunks(part string) []chunk {
	var out []chunk
	var shared strings.Builder
	flush := func() {
		if shared.Len() > 0 {
			out = append(out, chunk{shared: qpEncode(nil, shared.String())})
			shared.Reset()
		}
	}
	for part != "" {
		line := part
		if i := strings.Index(part, "\r\n"); i >= 0 {
			line = part[:i+2]
		}
		part = part[len(line):]
		if b.holdsKey(line) {
			flush()
			out = append(out, chunk{personal: line})
			continue
		}
		shared.WriteString(line)
	}
	flush()
	return out
}

// qpEncode appends s, quoted-printable, to dst. Line breaks in s are hard
// breaks, so runs of whole lines encode the same apart as together.
func qpEncode(dst []byte, s string) []byte {
	buf := bytes.NewBuffer(dst)
	w := quotedprintable.NewWriter(buf)
	_, _ = w.Write([]byte(s)) // writes to a bytes.Buffer do not fail
	_ = w.Close()
	return buf.Bytes()
}

// CopyMessage makes the copy for to, a Raw Message from the Bulk's sender:
// values[i] replaces the i-th placeholder in the text part and the
// headers, htmlValues[i] in the HTML part (escaped for HTML by the
// caller). It is marked RawCanonical when its body is its own DKIM
// relaxed canonical form: the shared runs were looked at once, and only
// the personal lines and the end of this copy are looked at here.
func (b *Bulk) CopyMessage(to mail.Address, msgID string, date time.Time, values, htmlValues []string) (Message, error) {
	if len(values) != len(b.keys) || len(htmlValues) != len(b.keys) {
		return Message{}, fmt.Errorf("bulk copy: %d and %d values for %d placeholders", len(values), len(htmlValues), len(b.keys))
	}
	addr, err := cleanAddress("To", to)
	if err != nil {
		return Message{}, err
	}
	// A display name without spaces cannot be folded: a long one would
	// make a header line past the 998 bytes SMTP allows. Names shown in
	// To are cut (the body still greets the reader by the whole name).
	if r := []rune(addr.Name); len(r) > maxDisplayName {
		addr.Name = string(r[:maxDisplayName])
	}
	id, err := messageID(msgID, b.from.Address)
	if err != nil {
		return Message{}, err
	}
	if date.IsZero() {
		return Message{}, fmt.Errorf("%w: no Date", ErrInvalid)
	}
	clean := make([]string, len(values))
	cleanHTML := make([]string, len(values))
	for i := range values {
		if clean[i], err = cleanValue("personal value", values[i]); err != nil {
			return Message{}, err
		}
		cleanHTML[i] = norm.NFC.String(htmlValues[i])
	}
	// The DKIM signatures go in front of the copy, in its own buffer.
	buf := make([]byte, signatureRoom, signatureRoom+b.size())
	head, out := buf[:signatureRoom], buf[signatureRoom:]
	out = fmt.Appendf(out, "Date: %s\r\n", date.In(b.loc).Format(time.RFC1123Z))
	out = append(out, b.before...)
	out = fmt.Appendf(out, "Message-ID: <%s>\r\n", id)
	out = append(out, b.afterTo...)
	// One replacer per part for the whole copy, not one per line.
	textR, htmlR := b.replacer(clean), b.replacer(cleanHTML)
	var h bytes.Buffer
	writeHeader(&h, "To", formatAddress(*addr))
	for _, x := range b.extra {
		v := x.value
		if x.personal {
			v = textR.Replace(v)
		}
		writeHeader(&h, x.name, encodeHeader(v))
	}
	out = append(out, h.Bytes()...)
	canonical := b.sharedCanonical
	if len(b.bodyParts) == 1 {
		out = append(out, "Content-Type: text/plain; charset=UTF-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"...)
		out = b.appendPart(out, b.bodyParts[0], textR, &canonical)
		// Canonicalization ends a body with one line break, no more.
		canonical = canonical && bytes.HasSuffix(out, crlfBytes) && !bytes.HasSuffix(out, []byte("\r\n\r\n"))
		return Message{From: b.from, To: to, MessageID: msgID, Raw: out, RawCanonical: canonical, headroom: head}, nil
	}
	out = fmt.Appendf(out, "Content-Type: multipart/alternative;\r\n boundary=%s\r\n\r\n", b.boundary)
	for i, part := range b.bodyParts {
		kind, vals := "plain", textR
		if i == 1 {
			kind, vals = "html", htmlR
		}
		out = fmt.Appendf(out, "--%s\r\nContent-Transfer-Encoding: quoted-printable\r\nContent-Type: text/%s; charset=UTF-8\r\n\r\n", b.boundary, kind)
		out = b.appendPart(out, part, vals, &canonical)
		out = append(out, "\r\n"...)
	}
	// The parts' own lines were looked at; the boundaries and the part
	// headers around them are canonical as written, and the body ends with
	// the closing boundary's line.
	out = fmt.Appendf(out, "--%s--\r\n", b.boundary)
	return Message{From: b.from, To: to, MessageID: msgID, Raw: out, RawCanonical: canonical, headroom: head}, nil
}

// appendPart appends a part's chunks, encoding its personal lines, and
// clears *canonical when one of those is not its own DKIM relaxed
// canonical form.
func (b *Bulk) appendPart(out []byte, part []chunk, values *strings.Replacer, canonical *bool) []byte {
	for _, c := range part {
		if c.shared != nil {
			out = append(out, c.shared...)
			continue
		}
		start := len(out)
		out = qpEncode(out, values.Replace(c.personal))
		*canonical = *canonical && canonicalLines(out[start:])
	}
	return out
}

// replacer puts values in place of the placeholders.
func (b *Bulk) replacer(values []string) *strings.Replacer {
	pairs := make([]string, 0, 2*len(b.keys))
	for i, k := range b.keys {
		pairs = append(pairs, k, values[i])
	}
	return strings.NewReplacer(pairs...)
}

// size guesses a copy's length, to allocate it once.
func (b *Bulk) size() int {
	n := 1024 + len(b.before) + len(b.afterTo)
	for _, part := range b.bodyParts {
		for _, c := range part {
			n += len(c.shared) + 3*len(c.personal) + 256
		}
	}
	return n
}

// writeHeader writes "Name: value" and CRLF, folding a long value at the
// spaces between its words.
func writeHeader(w *bytes.Buffer, name, value string) {
	w.WriteString(name)
	w.WriteString(":")
	lineLen := len(name) + 1
	for i, word := range strings.Split(value, " ") {
		if i > 0 && lineLen+1+len(word) > 76 {
			w.WriteString("\r\n")
			lineLen = 0
		}
		w.WriteString(" ")
		w.WriteString(word)
		lineLen += 1 + len(word)
	}
	w.WriteString("\r\n")
}
