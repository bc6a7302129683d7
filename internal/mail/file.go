package mail

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// FileTransport writes each message as one .eml file in a folder. It is the
// default transport, so a fresh install works without a relay. File names
// sort in the order messages were written: UTC time, a sequence number and
// a random suffix against clashes between processes.
type FileTransport struct {
	// DKIM, when not nil, signs every message written. Set it before the
	// first Send.
	DKIM *DKIM

	dir string
	loc *time.Location
	now func() time.Time

	mu  sync.Mutex
	seq uint64
}

var _ Transport = (*FileTransport)(nil)

// NewFileTransport returns a transport writing to dir, creating it if
// needed. Dates are shown in loc (UTC when nil); now fills zero dates and
// names files (time.Now when nil).
func NewFileTransport(dir string, loc *time.Location, now func() time.Time) (*FileTransport, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("mail file transport: %w", err)
	}
	if now == nil {
		now = time.Now
	}
	return &FileTransport{dir: dir, loc: loc, now: now}, nil
}

// Send writes each message to its own file. A message that cannot be built
// is Permanent; a write failure is Temporary.
func (t *FileTransport) Send(ctx context.Context, msgs []Message) []Result {
	results := make([]Result, len(msgs))
	for i, m := range msgs {
		if err := ctx.Err(); err != nil {
			results[i] = Result{Status: Temporary, Err: fmt.Errorf("write message: %w", err)}
			continue
		}
		results[i] = t.write(m)
	}
	return results
}

func (t *FileTransport) write(m Message) Result {
	now := t.now()
	if m.Date.IsZero() {
		m.Date = now
	}
	p, err := prepare(m, t.loc, t.DKIM)
	if errors.Is(err, ErrInvalid) {
		return Result{Status: Permanent, Err: fmt.Errorf("build message to %s: %w", m.To.Address, err)}
	}
	id, data := p.id, p.data
	if m.ReturnPath != "" {
		// What the receiving MTA would add: the envelope sender, seen in
		// the file as in a mailbox. Outside the DKIM signature, as there.
		data = append([]byte("Return-Path: <"+p.from+">\r\n"), data...)
	}
	fail := func(err error) Result {
		return Result{MessageID: id, Status: Temporary, Err: fmt.Errorf("write message %s: %w", id, err)}
	}
	// A signing failure is the sender's key, not the recipient: Temporary,
	// so it never counts as a bounce.
	if err != nil {
		return fail(err)
	}
	t.mu.Lock()
	t.seq++
	seq := t.seq
	t.mu.Unlock()
	var suffix [4]byte
	if _, err := rand.Read(suffix[:]); err != nil {
		return fail(err)
	}
	name := fmt.Sprintf("%s-%06d-%s.eml", now.UTC().Format("20060102T150405.000000000Z"), seq, hex.EncodeToString(suffix[:]))

	// Write to a dot-file first and rename, so a reader of *.eml never
	// sees half a message.
	tmp, err := os.CreateTemp(t.dir, ".tmp-*.partial")
	if err != nil {
		return fail(err)
	}
	defer os.Remove(tmp.Name()) // no-op after a successful rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fail(err)
	}
	if err := tmp.Close(); err != nil {
		return fail(err)
	}
	if err := os.Rename(tmp.Name(), filepath.Join(t.dir, name)); err != nil {
		return fail(err)
	}
	return Result{MessageID: id, Status: Sent}
}

// Close does nothing; it is there to satisfy Transport.
func (t *FileTransport) Close() error { return nil }
