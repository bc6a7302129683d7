package bounce

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
)

// Message is one message read from a path: a file, one message of an
// mbox, or one file of a maildir.
type Message struct {
	// Path is the file the message is in.
	Path string
	// Index is the message's place in an mbox, from 1; 0 for a message
	// that is a file of its own.
	Index int
	// Report is what the message says, when Err is nil.
	Report Report
	// Err is why the message could not be read.
	Err error
}

// Place names the message for a person: its file, and its number when
// the file is an mbox.
func (m Message) Place() string {
	if m.Index > 0 {
		return fmt.Sprintf("%s message %d", m.Path, m.Index)
	}
	return m.Path
}

// Each reads every message at path and calls fn with each, in order:
// "-" is one message (or an mbox) on stdin; a file is one message, or an
// mbox when it starts with a "From " line; a folder is a maildir (the
// files of new/ then cur/) or else a folder of message files. Files in a
// folder that are not regular (links, pipes, devices) are skipped. The
// error is for a path that cannot be read at all; a message that cannot
// be read is passed to fn with its Err.
func (o Options) Each(path string, stdin io.Reader, fn func(Message)) error {
	o = o.withDefaults()
	if path == "-" {
		return o.eachIn("-", stdin, fn)
	}
	info, err := os.Stat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("%s: no such file or folder", path)
	}
	if err != nil {
		return err // names the path
	}
	if !info.IsDir() {
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("read %s: %w", path, err)
		}
		defer f.Close()
		return o.eachIn(path, f, fn)
	}
	files, err := folderFiles(path)
	if err != nil {
		return err
	}
	for _, file := range files {
		f, err := os.Open(file)
		if err != nil {
			fn(Message{Path: file, Err: err})
			continue
		}
		rep, err := o.Parse(f)
		f.Close()
		fn(Message{Path: file, Report: rep, Err: err})
	}
	return nil
}

// folderFiles are the message files of a maildir (new/ then cur/; tmp/
// holds messages still being written) or of a plain folder, by name.
func folderFiles(dir string) ([]string, error) {
	var subdirs []string
	for _, sub := range []string{"new", "cur"} {
		if info, err := os.Stat(filepath.Join(dir, sub)); err == nil && info.IsDir() {
			subdirs = append(subdirs, filepath.Join(dir, sub))
		}
	}
	if len(subdirs) == 0 {
		subdirs = []string{dir}
	}
	var out []string
	for _, d := range subdirs {
		entries, err := os.ReadDir(d)
		if err != nil {
			return nil, fmt.Errorf("read folder %s: %w", d, err)
		}
		var names []string
		for _, e := range entries {
			if e.Type().IsRegular() && e.Name()[0] != '.' {
				names = append(names, e.Name())
			}
		}
		sort.Strings(names)
		for _, n := range names {
			out = append(out, filepath.Join(d, n))
		}
	}
	return out, nil
}

// eachIn reads one message, or an mbox, from r.
func (o Options) eachIn(path string, r io.Reader, fn func(Message)) error {
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(5)
	if err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read %s: %w", path, err)
	}
	if !bytes.Equal(head, []byte("From ")) {
		rep, err := o.Parse(br)
		fn(Message{Path: path, Report: rep, Err: err})
		return nil
	}
	return o.eachMbox(path, br, fn)
}

// eachMbox splits an mbox at its "From " lines; each message is read up to
// MaxBytes, the rest of it skipped. Lines quoted as ">From " (mboxrd) lose
// one ">".
func (o Options) eachMbox(path string, br *bufio.Reader, fn func(Message)) error {
	var (
		cur       []byte
		index     int
		truncated bool
		lineStart = true
		skipLine  bool // the rest of a "From " line longer than the buffer
	)
	emit := func() {
		if index == 0 {
			return
		}
		rep, err := o.parseBytes(cur)
		rep.Truncated = truncated
		fn(Message{Path: path, Index: index, Report: rep, Err: err})
	}
	for {
		chunk, err := br.ReadSlice('\n')
		start := lineStart
		lineStart = len(chunk) > 0 && chunk[len(chunk)-1] == '\n'
		switch {
		case start && bytes.HasPrefix(chunk, []byte("From ")):
			emit()
			index++
			cur, truncated, skipLine = nil, false, !lineStart
		case skipLine:
			skipLine = !lineStart
		default:
			if start && bytes.HasPrefix(bytes.TrimLeft(chunk, ">"), []byte("From ")) && chunk[0] == '>' {
				chunk = chunk[1:]
			}
			if int64(len(cur)+len(chunk)) <= o.MaxBytes {
				cur = append(cur, chunk...)
			} else {
				truncated = true
			}
		}
		if err == nil || errors.Is(err, bufio.ErrBufferFull) {
			continue
		}
		if errors.Is(err, io.EOF) {
			emit()
			return nil
		}
		emit()
		return fmt.Errorf("read %s after message %d: %w", path, index, err)
	}
}
