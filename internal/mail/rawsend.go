package mail

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/textproto"
	"sync"
	"time"

	"github.com/wneessen/go-mail/smtp"
)

// go-mail's Client can only send a Msg it renders itself, writing it into
// the DATA stream a few bytes at a time, and a DKIM signature in front of
// those bytes is exactly what its own (broken) signer does. So messages go
// out through the go-mail smtp.Client under the session instead: the same
// NOOP, MAIL, RCPT, DATA and RSET that Client.SendWithSMTPClient issues,
// with our bytes, rendered in memory and signed when DKIM is on, as the
// DATA.

// errRawConnCheck means the session died while idle, before the message
// began: nothing was sent (go-mail's ErrConnCheck).
var errRawConnCheck = errors.New("smtp session is no longer usable")

// rawError is a failed step of a raw SMTP transaction; Err is usually a
// *textproto.Error carrying the relay's reply code.
type rawError struct {
	Step string // "MAIL FROM", "RCPT TO", "DATA", "message data", "end of data"
	Err  error
}

func (e *rawError) Error() string { return e.Step + ": " + e.Err.Error() }

func (e *rawError) Unwrap() error { return e.Err }

// heldBack is a message whose BeforeEnd failed after its data was
// written: the transaction was not ended, and the session, left in the
// middle of its DATA, must be dropped.
type heldBack struct{ err error }

func (e *heldBack) Error() string { return "held back before the end of data: " + e.err.Error() }

func (e *heldBack) Unwrap() error { return e.err }

// gate calls end, when set, before the end of data.
func gate(end func() error) error {
	if end == nil {
		return nil
	}
	if err := end(); err != nil {
		return &heldBack{err: err}
	}
	return nil
}

// code returns the SMTP reply code behind e, or 0 for a network error.
func (e *rawError) code() int {
	var te *textproto.Error
	if errors.As(e.Err, &te) {
		return te.Code
	}
	return 0
}

// sendRaw sends data, a whole message (signed or not), from from to rcpt
// over sc. A session idle for a while is checked with NOOP first; one in
// steady use is not, and a connection found dead at MAIL FROM is reported
// as errRawConnCheck all the same: no part of the message was sent. No
// RSET follows a message the relay accepted: the end of DATA ends the
// transaction (RFC 5321 4.1.1.4), and RSET would cost a round trip per
// message.
//
// Each command has its own deadline (command), and the message bytes with
// the answer to their end have theirs (data): a relay that stops
// answering is found out at the step where it stopped.
//
// end, when not nil, is called after the message bytes and before the end
// of data; if it fails, the end is not sent and a *heldBack is returned.
func sendRaw(sc *smtp.Client, from, rcpt string, data []byte, command, dataTime time.Duration, idle bool, end func() error) error {
	if sc == nil || !sc.HasConnection() {
		return errRawConnCheck
	}
	if err := sc.UpdateDeadline(command); err != nil {
		return fmt.Errorf("%w: %w", errRawConnCheck, err)
	}
	if idle {
		if err := sc.Noop(); err != nil {
			return fmt.Errorf("%w: NOOP: %w", errRawConnCheck, err)
		}
		if err := sc.UpdateDeadline(command); err != nil {
			return fmt.Errorf("%w: %w", errRawConnCheck, err)
		}
	}
	if ok, _ := sc.Extension("PIPELINING"); ok {
		return sendPipelined(sc, from, rcpt, data, command, dataTime, end)
	}
	if err := sc.Mail("<" + from + ">"); err != nil {
		var te *textproto.Error
		if !errors.As(err, &te) {
			return fmt.Errorf("%w: MAIL FROM: %w", errRawConnCheck, err)
		}
		return resetAfter(sc, &rawError{Step: "MAIL FROM", Err: err})
	}
	if err := sc.UpdateDeadline(command); err != nil {
		return &rawError{Step: "RCPT TO " + rcpt, Err: err}
	}
	if err := sc.Rcpt("<" + rcpt + ">"); err != nil {
		return resetAfter(sc, &rawError{Step: "RCPT TO " + rcpt, Err: err})
	}
	if err := sc.UpdateDeadline(command); err != nil {
		return &rawError{Step: "DATA", Err: err}
	}
	w, err := sc.Data()
	if err != nil {
		// A refused DATA leaves the transaction open: reset it, or the
		// next message's MAIL FROM would be refused as nested.
		return resetAfter(sc, &rawError{Step: "DATA", Err: err})
	}
	if err := sc.UpdateDeadline(dataTime); err != nil {
		return &rawError{Step: "message data", Err: err}
	}
	if err := writeData(sc, w, data); err != nil {
		w.Close()
		return &rawError{Step: "message data", Err: err}
	}
	// The tail of the message stays in the connection's buffer while end
	// waits: it goes out with the end of data, in one write.
	if err := gate(end); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return &rawError{Step: "end of data", Err: err}
	}
	return nil
}

// sendPipelined is sendRaw's transaction for a relay that offers
// PIPELINING (RFC 2920): MAIL, RCPT and DATA go out in one write and their
// three answers are read after it, then the message. Two round trips a
// message instead of four: on a busy machine each one waits for the relay
// to be scheduled, and those waits, not the CPU, were what held a send to
// a local relay back. Every answer is read, whatever the one before said,
// so the session stays in step; a refused transaction is reset as in
// sendRaw.
func sendPipelined(sc *smtp.Client, from, rcpt string, data []byte, command, dataTime time.Duration, end func() error) error {
	tp := sc.Text
	if _, err := fmt.Fprintf(tp.W, "MAIL FROM:<%s>\r\nRCPT TO:<%s>\r\nDATA\r\n", from, rcpt); err != nil {
		return fmt.Errorf("%w: MAIL FROM: %w", errRawConnCheck, err)
	}
	if err := tp.W.Flush(); err != nil {
		return fmt.Errorf("%w: MAIL FROM: %w", errRawConnCheck, err)
	}
	var te *textproto.Error
	var refused *rawError // the first refusal
	var dataErr error
	for i, st := range []struct {
		step string
		code int
	}{{"MAIL FROM", 250}, {"RCPT TO " + rcpt, 25}, {"DATA", 354}} {
		_, _, err := tp.ReadResponse(st.code)
		switch {
		case err == nil:
			continue
		case !errors.As(err, &te) && refused != nil:
			return errors.Join(refused, err)
		case !errors.As(err, &te) && i == 0:
			// No answer at all: the session died before the message began.
			return fmt.Errorf("%w: MAIL FROM: %w", errRawConnCheck, err)
		case !errors.As(err, &te):
			return &rawError{Step: st.step, Err: err}
		}
		if refused == nil {
			refused = &rawError{Step: st.step, Err: err}
		}
		if te.Code == 421 {
			return refused // the relay is closing the session
		}
		if i == 2 {
			dataErr = err
		}
	}
	if refused != nil {
		if dataErr == nil {
			// A relay that took DATA after refusing the sender or the
			// recipient gets an empty message, which it must refuse
			// (RFC 2920 §3.1), before the reset.
			if _, err := tp.W.WriteString(".\r\n"); err != nil {
				return errors.Join(refused, err)
			}
			if err := tp.W.Flush(); err != nil {
				return errors.Join(refused, err)
			}
			if _, _, err := tp.ReadResponse(250); err != nil && !errors.As(err, &te) {
				return errors.Join(refused, err)
			}
		}
		return resetAfter(sc, refused)
	}
	if err := sc.UpdateDeadline(dataTime); err != nil {
		return &rawError{Step: "message data", Err: err}
	}
	w := tp.DotWriter()
	if err := writeData(sc, w, data); err != nil {
		w.Close()
		return &rawError{Step: "message data", Err: err}
	}
	// The tail of the message stays in the connection's buffer while end
	// waits: it goes out with the end of data, in one write.
	if err := gate(end); err != nil {
		return err
	}
	if err := w.Close(); err != nil {
		return &rawError{Step: "end of data", Err: err}
	}
	if _, _, err := tp.ReadResponse(250); err != nil {
		return &rawError{Step: "end of data", Err: err}
	}
	return nil
}

// writeData writes a message (CRLF line endings) as the DATA of a
// transaction. textproto's dot writer, which w is, looks at every byte on
// its own; here the body goes to the connection in one write, dot-stuffed
// (RFC 5321 4.5.2) into a pooled buffer when a line starts with a dot,
// and only its last line break goes through w, which leaves w in the
// state in which its Close ends the data with ".". The connection's
// buffer (4 KiB) is empty here, so bufio hands the body straight to the
// connection; written a piece between dots at a time, it went out in
// 4 KiB writes, 8 system calls a 53 KB copy instead of 3.
func writeData(sc *smtp.Client, w io.Writer, data []byte) error {
	if !bytes.HasSuffix(data, []byte("\r\n")) {
		data = append(data[:len(data):len(data)], '\r', '\n')
	}
	body, last := data[:len(data)-2], data[len(data)-2:]
	out := sc.Text.W
	if !bytes.HasPrefix(body, []byte(".")) && !bytes.Contains(body, []byte("\n.")) {
		if _, err := out.Write(body); err != nil {
			return err
		}
	} else {
		bp := stuffed.Get().(*[]byte)
		b := appendStuffed((*bp)[:0], body)
		_, err := out.Write(b)
		if cap(b) <= 4<<20 {
			*bp = b
			stuffed.Put(bp)
		}
		if err != nil {
			return err
		}
	}
	_, err := w.Write(last)
	return err
}

// stuffed holds the buffers of dot-stuffed bodies.
var stuffed = sync.Pool{New: func() any { return new([]byte) }}

// appendStuffed appends body to dst with a second dot in front of each
// line that starts with one.
func appendStuffed(dst, body []byte) []byte {
	if len(body) > 0 && body[0] == '.' {
		dst = append(dst, '.')
	}
	for {
		i := bytes.Index(body, []byte("\n."))
		if i < 0 {
			break
		}
		dst = append(dst, body[:i+2]...)
		dst = append(dst, '.')
		body = body[i+2:]
	}
	return append(dst, body...)
}

// resetAfter aborts the transaction after a refused MAIL or RCPT, so the
// session can carry the next message, and returns err.
func resetAfter(sc *smtp.Client, err *rawError) error {
	if rerr := sc.Reset(); rerr != nil {
		return errors.Join(err, fmt.Errorf("RSET: %w", rerr))
	}
	return err
}
