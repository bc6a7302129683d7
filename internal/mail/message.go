// Package mail builds the emails bantin sends (digests, confirmations) and
// hands them to a transport: a folder of .eml files or an SMTP relay.
//
// Every message is multipart/alternative (text/plain first, then text/html),
// NFC-normalised, with RFC 2047 encoded subject and display names, CRLF line
// endings, a Message-ID on the sender's domain and a Date in the site's time
// zone. Values from the caller never reach a header with a CR or LF in them:
// Build rejects them, so a subscriber's name cannot inject a header.
package mail

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"net/textproto"
	"slices"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
	"golang.org/x/text/unicode/norm"
)

// ErrInvalid marks a message that cannot be built: a missing or malformed
// address, a header value with a line break, a reserved header name. Sending
// it again will not help, so transports report it as Permanent.
var ErrInvalid = errors.New("invalid message")

// Message is one email to one recipient.
type Message struct {
	From    mail.Address
	ReplyTo *mail.Address // optional
	To      mail.Address
	Subject string
	Text    string // required: the text/plain part
	HTML    string // optional: the text/html alternative
	// MessageID is the Message-ID without angle brackets ("issue-7.sub-3@example.vn").
	// Empty means a random one on the domain of From. A stable one lets a
	// resumed send be recognised as the same message.
	MessageID string
	// Date of the message; transports fill a zero Date from their clock.
	Date time.Time
	// Headers are extra headers such as List-Id, List-Unsubscribe and
	// List-Unsubscribe-Post. Headers that Build sets itself are refused.
	Headers map[string]string
	// ReturnPath is the envelope sender (SMTP MAIL FROM), where bounces
	// go: a VERP address naming this copy. Empty means From's address.
	ReturnPath string
	// Raw, when set, is the whole message as Bulk.CopyMessage made it: it is sent
	// as it is (signed when DKIM is on); From and To are its envelope and
	// MessageID its Message-ID, and the other fields are not read.
	Raw []byte
	// RawCanonical says that Raw's body is its own DKIM relaxed canonical
	// form (Bulk.CopyMessage checked): DKIM hashes it as it is.
	RawCanonical bool
	// Signed is set on a Raw message whose DKIM signature is in Raw
	// already (SMTPTransport.Sign): it is sent as it is.
	Signed bool
	// headroom is the free start of the buffer Raw ends: Raw begins where
	// headroom ends (Bulk.CopyMessage), so a signature that fits goes in
	// front of Raw without a new copy of the whole message.
	headroom []byte
	// BeforeEnd, when set, is called by a transport that gates the end
	// (EndGate) once the whole message is with it and before it becomes
	// final: before the end of DATA. An error holds the message back: the
	// session is dropped without the end of data, so the relay does not
	// take it, and the Result is Temporary with that error. The digest
	// waits there for the store's mark of the copy before.
	BeforeEnd func() error `json:"-"`
}

// prepared is a message ready for a transport: its bytes, signed when
// DKIM is on, and its envelope.
type prepared struct {
	data     []byte
	from, to string
	id       string
}

// prepare renders m (or takes its Raw bytes) and signs it with d when d is
// not nil. An error wrapping ErrInvalid is the message's fault; any other
// (a signing failure) is the sender's.
func prepare(m Message, loc *time.Location, d *DKIM) (prepared, error) {
	from, err := cleanAddress("From", m.From)
	if err != nil {
		return prepared{}, err
	}
	to, err := cleanAddress("To", m.To)
	if err != nil {
		return prepared{}, err
	}
	p := prepared{from: from.Address, to: to.Address}
	if m.ReturnPath != "" {
		rp, err := cleanAddress("Return-Path", mail.Address{Address: m.ReturnPath})
		if err != nil {
			return prepared{}, err
		}
		p.from = rp.Address
	}
	if m.Raw != nil {
		if p.id, err = messageID(m.MessageID, from.Address); err != nil {
			return prepared{}, err
		}
		p.data = m.Raw
		if d != nil && !m.Signed {
			p.data, err = d.signRaw(m)
		}
		return p, err
	}
	msg, id, err := build(m, loc)
	if err != nil {
		return prepared{}, err
	}
	p.id = id
	p.data, err = encode(msg, d)
	return p, err
}

// reserved are the headers Build writes; a caller cannot override them
// through Message.Headers.
var reserved = []string{
	"Bcc", "Cc", "Content-Transfer-Encoding", "Content-Type", "Date", "From",
	"Message-Id", "Mime-Version", "Reply-To", "Sender", "Subject", "To",
}

// Render builds m and returns it as bytes ready to store or send, with the
// Date shown in loc (UTC when loc is nil). m.Date must be set.
func Render(m Message, loc *time.Location) ([]byte, error) {
	msg, _, err := build(m, loc)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render message to %s: %w", m.To.Address, err)
	}
	return buf.Bytes(), nil
}

// build turns m into a go-mail message and returns the Message-ID it used.
func build(m Message, loc *time.Location) (*gomail.Msg, string, error) {
	if loc == nil {
		loc = time.UTC
	}
	invalid := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
	}
	from, err := cleanAddress("From", m.From)
	if err != nil {
		return nil, "", err
	}
	to, err := cleanAddress("To", m.To)
	if err != nil {
		return nil, "", err
	}
	var replyTo *mail.Address
	if m.ReplyTo != nil {
		if replyTo, err = cleanAddress("Reply-To", *m.ReplyTo); err != nil {
			return nil, "", err
		}
	}
	subject, err := cleanValue("Subject", m.Subject)
	if err != nil {
		return nil, "", err
	}
	if m.Date.IsZero() {
		return nil, "", invalid("no Date")
	}
	if m.Text == "" {
		return nil, "", invalid("no text part")
	}
	id, err := messageID(m.MessageID, from.Address)
	if err != nil {
		return nil, "", err
	}

	msg := gomail.NewMsg(
		gomail.WithCharset(gomail.CharsetUTF8),
		gomail.WithEncoding(gomail.EncodingQP),
		gomail.WithNoDefaultUserAgent(),
	)
	// A boundary derived from the content keeps output reproducible for
	// golden files; a hash of the parts cannot occur inside them.
	sum := sha256.Sum256([]byte(id + "\x00" + m.Text + "\x00" + m.HTML))
	msg.SetBoundary("bantin-" + hex.EncodeToString(sum[:16]))
	// FromMailAddress, not FromFormat: FromFormat mangles display names
	// that need quoting.
	msg.FromMailAddress(from)
	if strings.Contains(to.Name, "=?") {
		// net/mail would quote the name, and some clients decode an
		// encoded word even there; formatAddress encodes the whole name.
		msg.SetGenHeader(gomail.Header(gomail.HeaderTo), formatAddress(*to))
	} else {
		msg.ToMailAddress(to)
	}
	if replyTo != nil {
		msg.ReplyToMailAddress(replyTo)
	}
	msg.Subject(encodeText(subject))
	msg.SetMessageIDWithValue(id)
	msg.SetDateWithValue(m.Date.In(loc))

	names := make([]string, 0, len(m.Headers))
	for name := range m.Headers {
		names = append(names, name)
	}
	slices.Sort(names) // deterministic output for golden files
	for _, name := range names {
		if !isToken(name) {
			return nil, "", invalid("header name %q", name)
		}
		canonical := textproto.CanonicalMIMEHeaderKey(name)
		if slices.Contains(reserved, canonical) {
			return nil, "", invalid("header %s is set by the mail package", name)
		}
		value, err := cleanValue(name, m.Headers[name])
		if err != nil {
			return nil, "", err
		}
		// Encoded here, so go-mail sees ASCII and leaves it alone; genHeaders
		// are written in sorted order, which keeps output reproducible.
		msg.SetGenHeader(gomail.Header(name), encodeHeader(value))
	}

	msg.SetBodyString(gomail.TypeTextPlain, body(m.Text))
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, body(m.HTML))
	}
	return msg, id, nil
}

// encodeHeader RFC 2047-encodes a header value that is not ASCII. A trailing
// "<...>" (the id in List-Id, the URLs in List-Unsubscribe) stays literal,
// since readers look for it in the raw header; only the phrase before it is
// encoded.
func encodeHeader(v string) string {
	phrase, tail := v, ""
	if strings.HasSuffix(v, ">") {
		if i := strings.LastIndexByte(v, '<'); i >= 0 && isASCII(v[i:]) {
			phrase, tail = v[:i], v[i:]
		}
	}
	if isASCII(phrase) {
		return v
	}
	space := ""
	if trimmed := strings.TrimRight(phrase, " \t"); trimmed != phrase {
		phrase, space = trimmed, " "
	}
	return mime.QEncoding.Encode("UTF-8", phrase) + space + tail
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// cleanAddress returns a NFC copy of a, refusing line breaks and addresses
// net/mail cannot parse.
func cleanAddress(field string, a mail.Address) (*mail.Address, error) {
	name, err := cleanValue(field+" name", a.Name)
	if err != nil {
		return nil, err
	}
	if a.Address == "" {
		return nil, fmt.Errorf("%w: no %s address", ErrInvalid, field)
	}
	if strings.ContainsAny(a.Address, "\r\n<>, \t") {
		return nil, fmt.Errorf("%w: %s address %q", ErrInvalid, field, a.Address)
	}
	parsed, err := mail.ParseAddress("<" + a.Address + ">")
	if err != nil {
		return nil, fmt.Errorf("%w: %s address %q: %v", ErrInvalid, field, a.Address, err)
	}
	return &mail.Address{Name: name, Address: parsed.Address}, nil
}

// cleanValue NFC-normalises a header value and refuses control characters,
// which is what makes header injection impossible.
func cleanValue(field, v string) (string, error) {
	if i := strings.IndexFunc(v, func(r rune) bool { return r < ' ' && r != '\t' || r == 0x7f }); i >= 0 {
		return "", fmt.Errorf("%w: %s contains control character %q", ErrInvalid, field, v[i])
	}
	return norm.NFC.String(v), nil
}

// body NFC-normalises a part and gives it CRLF line endings.
func body(s string) string {
	s = norm.NFC.String(s)
	s = strings.ReplaceAll(s, "\r\n", "\n")
	s = strings.ReplaceAll(s, "\r", "\n")
	return strings.ReplaceAll(s, "\n", "\r\n")
}

// messageID validates a caller's Message-ID or makes a random one on the
// domain of the sender's address.
func messageID(id, from string) (string, error) {
	if id == "" {
		var b [16]byte
		if _, err := rand.Read(b[:]); err != nil {
			return "", fmt.Errorf("message id: %w", err)
		}
		return hex.EncodeToString(b[:]) + "@" + from[strings.LastIndexByte(from, '@')+1:], nil
	}
	id = strings.TrimSuffix(strings.TrimPrefix(id, "<"), ">")
	at := strings.LastIndexByte(id, '@')
	if at <= 0 || at == len(id)-1 {
		return "", fmt.Errorf("%w: Message-ID %q needs local@domain", ErrInvalid, id)
	}
	for _, r := range id {
		if r <= ' ' || r >= 0x7f || strings.ContainsRune(`<>()[]\,;:"`, r) {
			return "", fmt.Errorf("%w: Message-ID %q contains %q", ErrInvalid, id, r)
		}
	}
	return id, nil
}

// isToken reports whether name is a valid header field name (RFC 5322
// printable ASCII without colon).
func isToken(name string) bool {
	if name == "" {
		return false
	}
	for _, r := range name {
		if r <= ' ' || r >= 0x7f || r == ':' {
			return false
		}
	}
	return true
}
