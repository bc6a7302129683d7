package mail

import (
	"context"
	"errors"
	"fmt"
	"net/textproto"
	"strings"

	gomail "github.com/wneessen/go-mail"
)

// Transport delivers messages. Send returns one Result per message, in the
// order given; it never stops at the first failure.
type Transport interface {
	Send(ctx context.Context, msgs []Message) []Result
	Close() error
}

// EndGate is a Transport that calls each message's BeforeEnd before the
// message becomes final, and holds the message back when it fails. Other
// transports do not call BeforeEnd.
type EndGate interface {
	Transport
	GatesEnd()
}

// Status is the outcome of one message.
type Status int

const (
	// Sent means the relay accepted the message (or the file was written).
	Sent Status = iota + 1
	// Temporary means try again later: a 4xx answer, a dropped connection,
	// a network error, a relay that could not be reached, a cancelled context.
	Temporary
	// Permanent means do not retry: a 5xx answer (a bounce) or a message
	// that cannot be built.
	Permanent
)

// String returns the status as a word for logs and storage.
func (s Status) String() string {
	switch s {
	case Sent:
		return "sent"
	case Temporary:
		return "temporary"
	case Permanent:
		return "permanent"
	}
	return fmt.Sprintf("Status(%d)", int(s))
}

// Result is the outcome of sending one message.
type Result struct {
	// MessageID is the Message-ID the message carried (or would have),
	// without angle brackets; empty if the message could not be built.
	MessageID string
	Status    Status
	// Code is the SMTP reply code behind a failure, 0 when there was none
	// (network errors, file transport, invalid messages).
	Code int
	// Rejected is a permanent refusal of the recipient (a 5xx to RCPT TO):
	// the one failure that says the address is bad. A 5xx at MAIL FROM or
	// DATA is the relay refusing us, not a bounce of the subscriber.
	Rejected bool
	// Err says what went wrong; nil when Status is Sent.
	Err error
}

// recipientRefused reports a failure at RCPT TO.
func recipientRefused(err error) bool {
	var se *gomail.SendError
	if errors.As(err, &se) {
		return se.Reason == gomail.ErrSMTPRcptTo
	}
	var re *rawError
	if errors.As(err, &re) {
		return strings.HasPrefix(re.Step, "RCPT TO")
	}
	return false
}

// ErrClosed is reported for messages given to a transport after Close.
var ErrClosed = errors.New("mail transport closed")

// classify maps a go-mail or sendRaw error to a Status and SMTP code.
func classify(err error) (Status, int) {
	var se *gomail.SendError
	if errors.As(err, &se) {
		code := se.ErrorCode()
		switch {
		case code >= 500:
			return Permanent, code
		case code >= 400:
			return Temporary, code
		}
		switch se.Reason {
		case gomail.ErrGetSender, gomail.ErrGetRcpts, gomail.ErrNoUnencoded:
			// Our message is at fault; sending it again changes nothing.
			return Permanent, 0
		}
		// go-mail reports network errors as permanent with code 0, but a
		// dropped connection is exactly what a later retry fixes.
		return Temporary, 0
	}
	if errors.Is(err, ErrInvalid) {
		return Permanent, 0
	}
	var re *rawError
	if errors.As(err, &re) {
		// A signed message sent by sendRaw: the relay's code decides; a
		// network error is Temporary like go-mail's.
		switch code := re.code(); {
		case code >= 500:
			return Permanent, code
		case code >= 400:
			return Temporary, code
		}
		return Temporary, 0
	}
	var te *textproto.Error
	if errors.As(err, &te) {
		return Temporary, te.Code
	}
	return Temporary, 0
}
