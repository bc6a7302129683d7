// Package bounce reads the emails that come back to a sender: delivery
// status notifications (RFC 3464 and the older formats of MTAs that do not
// send it), feedback-loop complaints (ARF, RFC 5965) and automatic replies
// (RFC 3834), and says what each one means for the address it names.
//
// It reads only; deciding what a bounce does to a subscriber, and checking
// the delivery token it carries, is the caller's work.
//
// What is read, strongest evidence first: an ARF report (a complaint, but
// "not-spam" and "auth-failure" reports are none); the message/delivery-
// status parts of RFC 3464 (one recipient per block, Original-Recipient
// preferred to Final-Recipient as it is the address bantin sent to;
// "delivered", "relayed" and "expanded" blocks are no failure); the text
// of the MTAs that write their own (qmail's QSBMF, Exim, old Sendmail,
// Exchange, Gmail, Yahoo, Postfix); the X-Failed-Recipients header; an
// automatic reply (RFC 3834 Auto-Submitted, X-Autoreply, X-Autorespond,
// Precedence: auto_reply, vacation subjects in English and Vietnamese).
// Delivery notices carry Auto-Submitted too, so they are read first.
//
// Hard or soft: a 5.x.x status is hard, except mailbox full (5.2.2),
// message too large (5.2.3, 5.3.4) and refusals by policy (5.7.x, unless
// the text says the user is unknown), which are soft; 4.x.x is soft, and
// so is a "delayed" notice whatever its code. Without a status code the
// SMTP reply code decides (5yz hard, 4yz and 552 soft, a 5yz naming spam or
// a block list soft), then the words ("user unknown", "does not exist":
// hard; "quota", "mailbox full", "timed out": soft). A notice that gives
// neither is hard when it says the failure is permanent, else soft: a
// notice that says too little is no reason to drop an address.
package bounce

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/mail"
	"strings"
	"unicode/utf8"
)

// Kind is what a message means for the address it names.
type Kind string

// The kinds of message Parse tells apart.
const (
	// Hard: the address does not work and will not (no such user, no such
	// domain, a definite refusal).
	Hard Kind = "hard"
	// Soft: delivery failed for now or for a reason that is not the
	// address's (mailbox full, message too large, refused by policy,
	// delayed) and may work later.
	Soft Kind = "soft"
	// Complaint: the recipient reported the message as spam (ARF).
	Complaint Kind = "complaint"
	// AutoReply: a vacation or other automatic answer; never a bounce.
	AutoReply Kind = "auto-reply"
	// NotBounce: an ordinary email, a success notice, or anything else
	// that says nothing about an address.
	NotBounce Kind = "not-a-bounce"
)

// Defaults of Options.
const (
	DefaultMaxBytes     = 10 << 20
	DefaultMaxParts     = 100
	DefaultMaxDepth     = 8
	DefaultReturnPrefix = "bounces"
	// MaxReason is the most runes a Reason holds.
	MaxReason = 300
	// maxRecipients bounds the recipients reported from one message: a
	// report naming thousands is not a bounce of one newsletter copy.
	maxRecipients = 100
	// maxToken bounds a VERP token; longer local parts are not ours.
	maxToken = 200
)

// ErrNotMessage is returned for input that has no email header at all.
var ErrNotMessage = errors.New("not an email message")

// Options bound what Parse reads and say where the delivery token is.
type Options struct {
	// MaxBytes is the most of one message read (DefaultMaxBytes when 0);
	// the rest is left unread and Report.Truncated set. The part that
	// says who failed comes before the returned message, so a bounce that
	// carries a large attachment back is still read.
	MaxBytes int64
	// MaxParts is the most MIME parts looked at (DefaultMaxParts when 0).
	MaxParts int
	// MaxDepth is how deep multiparts and attached messages are followed
	// (DefaultMaxDepth when 0).
	MaxDepth int
	// ReturnPrefix is the local part of the return path before the "+"
	// and the token: "bounces" finds the token in bounces+TOKEN@domain.
	ReturnPrefix string
}

func (o Options) withDefaults() Options {
	if o.MaxBytes <= 0 {
		o.MaxBytes = DefaultMaxBytes
	}
	if o.MaxParts <= 0 {
		o.MaxParts = DefaultMaxParts
	}
	if o.MaxDepth <= 0 {
		o.MaxDepth = DefaultMaxDepth
	}
	if o.ReturnPrefix == "" {
		o.ReturnPrefix = DefaultReturnPrefix
	}
	return o
}

// Recipient is one address a report is about.
type Recipient struct {
	// Address is the address as sent to, its domain lower-cased.
	Address string
	// Kind is Hard or Soft for a bounce, Complaint for a complaint.
	Kind Kind
	// Status is the enhanced status code (RFC 3463), "5.1.1", when known.
	Status string
	// Reason is the server's words, on one line, at most MaxReason runes.
	Reason string
}

// Report is what one message says.
type Report struct {
	// Kind is the message's kind; for a bounce naming several recipients,
	// Hard when any failed for good, else Soft.
	Kind Kind
	// Recipients are the addresses that failed, or the complainer, or the
	// sender of an automatic reply. It is empty when the message names no
	// address (then Token may still say which delivery it was).
	Recipients []Recipient
	// Status and Reason are the first recipient's, or what the text says
	// when it names no address.
	Status string
	Reason string
	// Token is the raw VERP token found in the return path the message
	// came back to (or the one of the returned original); not verified.
	Token string
	// FeedbackType is an ARF report's Feedback-Type ("abuse", …).
	FeedbackType string
	// Format says which shape was read: "rfc3464", "arf", "qmail",
	// "exim", "sendmail", "exchange", "gmail", "yahoo", "postfix",
	// "x-failed-recipients", "text", "auto-reply", "" for none.
	Format string
	// MessageID is the notice's own Message-ID, which tells the same
	// notice imported twice.
	MessageID string
	// OriginalMessageID is the Message-ID of the returned copy, when the
	// notice carries it (bantin's is stable for an issue and subscriber).
	OriginalMessageID string
	// Truncated is true when the message was longer than MaxBytes.
	Truncated bool
}

// Parse reads one email with the default options.
func Parse(r io.Reader) (Report, error) {
	return Options{}.Parse(r)
}

// Parse reads one email (an RFC 5322 message, optionally preceded by an
// mbox "From " line) and says what it is. The error is only for input that
// cannot be read or is not an email at all; any email gives a Report.
func (o Options) Parse(r io.Reader) (Report, error) {
	o = o.withDefaults()
	data, err := io.ReadAll(io.LimitReader(r, o.MaxBytes+1))
	if err != nil {
		return Report{}, fmt.Errorf("read message: %w", err)
	}
	truncated := int64(len(data)) > o.MaxBytes
	if truncated {
		data = data[:o.MaxBytes]
	}
	rep, err := o.parseBytes(data)
	if err != nil {
		return Report{}, err
	}
	rep.Truncated = truncated
	return rep, nil
}

func (o Options) parseBytes(data []byte) (Report, error) {
	o = o.withDefaults()
	data = skipFromLine(data)
	if len(bytes.TrimSpace(data)) == 0 {
		return Report{}, fmt.Errorf("%w: empty", ErrNotMessage)
	}
	msg, err := mail.ReadMessage(bufio.NewReader(bytes.NewReader(data)))
	if err != nil {
		// net/mail quotes the bad line, which may be binary: say what is
		// wrong without it.
		return Report{}, fmt.Errorf("%w: it does not start with header fields", ErrNotMessage)
	}
	if len(msg.Header) == 0 {
		return Report{}, fmt.Errorf("%w: no header", ErrNotMessage)
	}
	w := &walker{opts: o, topFailed: strings.Join(msg.Header["X-Failed-Recipients"], ", ")}
	w.walk(textprotoHeader(msg.Header), msg.Body, 0)
	w.finish()
	return o.decide(msg.Header, w), nil
}

// skipFromLine drops an mbox "From " line before the header, as found in a
// message saved from a mail client or cut from an mbox by hand.
func skipFromLine(data []byte) []byte {
	if bytes.HasPrefix(data, []byte("From ")) {
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			return data[i+1:]
		}
		return nil
	}
	return data
}

// decide puts together what the walk found, strongest evidence first: a
// complaint, a delivery status part, an MTA's own text, an automatic reply.
func (o Options) decide(h mail.Header, w *walker) Report {
	rep := Report{Token: o.findToken(h, w), MessageID: messageID(h.Get("Message-Id"))}
	if w.original != nil {
		rep.OriginalMessageID = messageID(w.original.Get("Message-Id"))
	}
	for _, b := range w.dsn {
		if rep.OriginalMessageID == "" {
			rep.OriginalMessageID = messageID(b.get("X-Original-Message-ID"))
		}
	}
	switch {
	case w.feedback != nil:
		o.complaint(&rep, h, w)
	case len(w.dsn) > 0 && o.fromDSN(&rep, w):
	case looksLikeBounce(h, w) && o.fromText(&rep, h, w):
	case isAutoReply(h):
		rep.Kind, rep.Format = AutoReply, "auto-reply"
		from := anyAddr.FindString(h.Get("From"))
		if a, err := mail.ParseAddress(h.Get("From")); err == nil {
			from = a.Address
		}
		if a := cleanAddress(from); a != "" {
			rep.Recipients = []Recipient{{Address: a, Kind: AutoReply}}
		}
	default:
		rep.Kind = NotBounce
	}
	if rep.Kind != NotBounce && rep.Kind != AutoReply && len(rep.Recipients) > 0 {
		first := rep.Recipients[0]
		if rep.Status == "" {
			rep.Status = first.Status
		}
		if rep.Reason == "" {
			rep.Reason = first.Reason
		}
	}
	return rep
}

// overall is the kind of a bounce from its recipients' kinds.
func overall(rs []Recipient, fallback Kind) Kind {
	if len(rs) == 0 {
		return fallback
	}
	k := Soft
	for _, r := range rs {
		if r.Kind == Hard {
			k = Hard
		}
	}
	return k
}

// complaint fills rep from an ARF feedback report.
func (o Options) complaint(rep *Report, h mail.Header, w *walker) {
	f := w.feedback
	rep.Format = "arf"
	rep.FeedbackType = strings.ToLower(oneLine(f.get("Feedback-Type"), 40))
	switch rep.FeedbackType {
	case "not-spam", "auth-failure":
		// A "this is not spam" report or a DMARC/DKIM failure report is
		// about the sender's setup, not a complaint of the recipient.
		rep.Kind = NotBounce
		return
	}
	rep.Kind = Complaint
	addr := cleanAddress(f.get("Original-Rcpt-To"))
	if addr == "" && w.original != nil {
		// Some providers leave Original-Rcpt-To out; the returned copy was
		// addressed to the complainer alone.
		if list, err := mail.ParseAddressList(w.original.Get("To")); err == nil && len(list) == 1 {
			addr = cleanAddress(list[0].Address)
		}
	}
	if addr != "" {
		rep.Recipients = []Recipient{{Address: addr, Kind: Complaint}}
	}
	rep.Reason = oneLine(decodeHeader(h.Get("Subject")), MaxReason)
}

// messageID is the id of a Message-ID header without its angle brackets,
// "" when it is not one.
func messageID(v string) string {
	v = strings.TrimSpace(v)
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i:], '>'); j > 0 {
			v = v[i+1 : i+j]
		}
	}
	if v == "" || len(v) > 250 || !utf8.ValidString(v) || strings.ContainsAny(v, " \t\r\n<>") {
		return ""
	}
	return v
}
