package mail

import (
	"errors"
	"fmt"
	"net/textproto"
	"time"

	gomail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"
)

// go-mail's Client can only send a Msg it renders itself, and writing a DKIM
// signature in front of those bytes is exactly what its own (broken) signer
// does. So signed messages go out through the go-mail smtp.Client under the
// session instead: the same NOOP, MAIL, RCPT, DATA and RSET that
// Client.SendWithSMTPClient issues, with our bytes as the DATA. Unsigned
// messages still go through SendWithSMTPClient, on the same session.

// errRawConnCheck means the session died while idle, before the message
// began: nothing was sent (go-mail's ErrConnCheck).
var errRawConnCheck = errors.New("smtp session is no longer usable")

// errRawReset means the relay accepted the message and only the RSET after
// it failed (go-mail's ErrSMTPReset).
var errRawReset = errors.New("RSET after the message failed")

// rawError is a failed step of a raw SMTP transaction; Err is usually a
// *textproto.Error carrying the relay's reply code.
type rawError struct {
	Step string // "MAIL FROM", "RCPT TO", "DATA", "message data", "end of data"
	Err  error
}

func (e *rawError) Error() string { return e.Step + ": " + e.Err.Error() }

func (e *rawError) Unwrap() error { return e.Err }

// code returns the SMTP reply code behind e, or 0 for a network error.
func (e *rawError) code() int {
	var te *textproto.Error
	if errors.As(e.Err, &te) {
		return te.Code
	}
	return 0
}

// sendRaw sends data, the signed rendering of msg, to msg's envelope over sc.
func sendRaw(sc *smtp.Client, msg *gomail.Msg, data []byte, timeout time.Duration) error {
	if sc == nil || !sc.HasConnection() || sc.Noop() != nil {
		return errRawConnCheck
	}
	if err := sc.UpdateDeadline(timeout); err != nil {
		return fmt.Errorf("%w: %w", errRawConnCheck, err)
	}
	from, err := msg.GetSender(false)
	if err != nil {
		return fmt.Errorf("%w: envelope sender: %w", ErrInvalid, err)
	}
	rcpts, err := msg.GetRecipients()
	if err != nil {
		return fmt.Errorf("%w: envelope recipients: %w", ErrInvalid, err)
	}
	if err := sc.Mail(from); err != nil {
		return resetAfter(sc, &rawError{Step: "MAIL FROM", Err: err})
	}
	for _, rcpt := range rcpts {
		if err := sc.Rcpt(rcpt); err != nil {
			return resetAfter(sc, &rawError{Step: "RCPT TO " + rcpt, Err: err})
		}
	}
	w, err := sc.Data()
	if err != nil {
		return &rawError{Step: "DATA", Err: err}
	}
	if _, err := w.Write(data); err != nil {
		w.Close()
		return &rawError{Step: "message data", Err: err}
	}
	if err := w.Close(); err != nil {
		return &rawError{Step: "end of data", Err: err}
	}
	if err := sc.Reset(); err != nil {
		return fmt.Errorf("%w: %w", errRawReset, err)
	}
	return nil
}

// resetAfter aborts the transaction after a refused MAIL or RCPT, so the
// session can carry the next message, and returns err.
func resetAfter(sc *smtp.Client, err *rawError) error {
	if rerr := sc.Reset(); rerr != nil {
		return errors.Join(err, fmt.Errorf("RSET: %w", rerr))
	}
	return err
}
