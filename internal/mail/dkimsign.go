package mail

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash"
	"strconv"
	"strings"
	"time"
)

// bantin signs with its own relaxed/relaxed DKIM code (RFC 6376 §3.4.2,
// §3.4.4) rather than go-msgauth's signer, which canonicalizes the body a
// byte at a time: for a 53 KB digest that was most of the signing cost,
// more than the Ed25519 signature itself. Here a body line that relaxed
// canonicalization leaves as it is (most of a quoted-printable body: no
// tab, no two spaces in a row, no space at its end) is hashed straight
// from the message, in runs of many lines, and only the other lines are
// rewritten. go-msgauth's verifier is the tests' judge of the result.

// bodyHash returns the SHA-256 of body (the bytes after the blank line
// that ends the header) in relaxed canonical form: runs of spaces and tabs
// made one space, spaces and tabs at a line's end removed, empty lines at
// the end removed, and a last line without a line break given one. Lines
// end at LF; a CR before it is part of the break.
func bodyHash(body []byte) [sha256.Size]byte {
	sum, _ := hashBody(body)
	return sum
}

// hashBody is bodyHash, and reports whether body has a bare CR or LF (a
// line break that is not CRLF): found on the way, rather than by passes of
// their own over every copy, as bantin's messages have none.
func hashBody(body []byte) (sum [sha256.Size]byte, bare bool) {
	h := sha256.New()
	var line []byte // scratch for a line that changes
	runStart := 0   // body[runStart:runEnd] is canonical as it stands
	runEnd := 0     // just after the last non-empty line taken
	blanks := 0     // empty lines after runEnd, not hashed yet
	literal := true // those empty lines are each a bare CRLF in body
	for pos := 0; pos < len(body); {
		end, next, crlf := len(body), len(body), false
		if i := bytes.IndexByte(body[pos:], '\n'); i >= 0 {
			end, next = pos+i, pos+i+1
			if end > pos && body[end-1] == '\r' {
				end--
				crlf = true
			} else {
				bare = true
			}
		}
		text := body[pos:end]
		if len(text) == 0 || ((text[0] == ' ' || text[0] == '\t') && len(bytes.Trim(text, " \t")) == 0) {
			blanks++
			literal = literal && crlf && len(text) == 0
			pos = next
			continue
		}
		if blanks > 0 && !literal {
			// The empty lines in body hold spaces or bare LFs: hash
			// what comes before them, then them as they should be.
			h.Write(body[runStart:runEnd])
			for range blanks {
				h.Write(crlfBytes)
			}
			runStart = pos
		}
		blanks, literal = 0, true
		if crlf && relaxed(text) {
			runEnd = next
			pos = next
			continue
		}
		h.Write(body[runStart:pos])
		bare = bare || bytes.IndexByte(text, '\r') >= 0
		line = relaxLine(line[:0], text)
		line = append(line, '\r', '\n')
		h.Write(line)
		runStart, runEnd, pos = next, next, next
	}
	h.Write(body[runStart:runEnd])
	h.Sum(sum[:0])
	return sum, bare
}

var crlfBytes = []byte("\r\n")

// relaxed reports whether relaxed canonicalization leaves the line text
// (not empty, without its line break) as it is: no tab, no two spaces in a
// row, no space at its end; and no CR, so that a bare one is seen by the
// slow path. It looks at eight bytes at a time: bytes.Index for "  "
// restarts at every space of a line of words and cost more than hashing
// the line.
func relaxed(text []byte) bool {
	n := len(text)
	if c := text[n-1]; c == ' ' || c == '\t' {
		return false
	}
	i := 0
	for ; i+9 <= n; i += 8 {
		x := binary.LittleEndian.Uint64(text[i:])
		next := binary.LittleEndian.Uint64(text[i+1:]) // byte k is text[i+k+1]
		if bytesEqual(x, '\t')|bytesEqual(x, '\r') != 0 || bytesEqual(x, ' ')&bytesEqual(next, ' ') != 0 {
			return false
		}
	}
	for ; i < n; i++ {
		if text[i] == '\t' || text[i] == '\r' || (text[i] == ' ' && i+1 < n && text[i+1] == ' ') {
			return false
		}
	}
	return true
}

// canonicalLines reports whether text, lines that each end CRLF but the
// last, which may have no break, is its own relaxed canonical form line
// by line: no bare CR or LF and every line empty or relaxed. Empty lines
// at the end of a body, which canonicalization removes, are the caller's
// to look for.
func canonicalLines(text []byte) bool {
	for pos := 0; pos < len(text); {
		i := bytes.IndexByte(text[pos:], '\n')
		if i < 0 {
			return relaxed(text[pos:])
		}
		if i == 0 || text[pos+i-1] != '\r' {
			return false
		}
		if line := text[pos : pos+i-1]; len(line) > 0 && !relaxed(line) {
			return false
		}
		pos += i + 1
	}
	return true
}

// bytesEqual returns a word with the high bit set in each byte of x that
// equals c, and no other bit.
func bytesEqual(x uint64, c byte) uint64 {
	const low7, ones = 0x7f7f7f7f7f7f7f7f, 0x0101010101010101
	v := x ^ (uint64(c) * ones) // zero bytes where x has c
	return ^((v&low7 + low7) | v | low7)
}

// relaxLine appends text with each run of spaces and tabs made one space
// and those at its end removed.
func relaxLine(dst, text []byte) []byte {
	space := false
	for _, c := range text {
		if c == ' ' || c == '\t' {
			space = true
			continue
		}
		if space {
			dst = append(dst, ' ')
			space = false
		}
		dst = append(dst, c)
	}
	return dst
}

// headerField is one field of a message header, as it stands (folded,
// without its final CRLF).
type headerField struct {
	name string
	raw  []byte
}

// headerFields splits header (the bytes before the blank line) into its
// fields.
func headerFields(header []byte) []headerField {
	var fields []headerField
	for len(header) > 0 {
		end := len(header)
		// A field goes on over lines that begin with a space or a tab.
		for i := 0; ; {
			j := bytes.IndexByte(header[i:], '\n')
			if j < 0 {
				break
			}
			i += j + 1
			if i >= len(header) || (header[i] != ' ' && header[i] != '\t') {
				end = i
				break
			}
		}
		raw := bytes.TrimRight(header[:end], "\r\n")
		header = header[end:]
		name, _, ok := bytes.Cut(raw, []byte(":"))
		if !ok {
			continue // not a field: covered by no signature
		}
		fields = append(fields, headerField{name: string(bytes.TrimRight(name, " \t")), raw: raw})
	}
	return fields
}

// relaxHeader appends field (name: value, folded or not) in relaxed
// canonical form without a line break: the name in lower case, the value
// unfolded with each run of spaces and tabs made one space, no space
// around the colon or at the end.
func relaxHeader(dst, field []byte) []byte {
	name, value, _ := bytes.Cut(field, []byte(":"))
	dst = append(dst, bytes.ToLower(bytes.Trim(name, " \t"))...)
	dst = append(dst, ':')
	space := false
	start := len(dst)
	for _, c := range value {
		switch c {
		case '\r', '\n':
			continue
		case ' ', '\t':
			space = true
			continue
		}
		if space && len(dst) > start {
			dst = append(dst, ' ')
		}
		space = false
		dst = append(dst, c)
	}
	return dst
}

// splitMessage returns msg's header (with the CRLF of its last field) and
// body; all of msg is header when no empty line ends it.
func splitMessage(msg []byte) (header, body []byte) {
	if i := bytes.Index(msg, []byte("\r\n\r\n")); i >= 0 {
		return msg[:i+2], msg[i+4:]
	}
	return msg, nil
}

// sign returns the DKIM-Signature fields (CRLF included) for a message of
// header fields and body hash bh, one a key, each covering the fields
// named in keys (a name given more often than the header has it covers a
// field that is not there: oversigning) and the whole body, hashed once
// for all.
func (d *DKIM) sign(fields []headerField, bh [sha256.Size]byte, keys []string, now time.Time) ([]byte, error) {
	out, err := d.signWith(nil, d.Selector, d.Signer, fields, keys, bh, now)
	if err != nil {
		return nil, err
	}
	for _, k := range d.Also {
		if out, err = d.signWith(out, k.Selector, k.Signer, fields, keys, bh, now); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// signWith appends to dst the DKIM-Signature field of one key.
func (d *DKIM) signWith(dst []byte, selector string, signer crypto.Signer, fields []headerField, keys []string, bh [sha256.Size]byte, now time.Time) ([]byte, error) {
	algo, hashOpt := "rsa-sha256", crypto.Hash(crypto.SHA256)
	if _, ok := signer.Public().(ed25519.PublicKey); ok {
		// RFC 8463: Ed25519 signs the SHA-256 of the data, as PureEdDSA.
		algo, hashOpt = "ed25519-sha256", crypto.Hash(0)
	}
	var f folder
	f.add("DKIM-Signature:", false)
	f.add("v=1;", true)
	f.add("a="+algo+";", true)
	f.add("c=relaxed/relaxed;", true)
	f.add("d="+d.Domain+";", true)
	f.add("s="+selector+";", true)
	f.add("t="+strconv.FormatInt(now.Unix(), 10)+";", true)
	for i, k := range keys {
		switch {
		case len(keys) == 1:
			f.add("h="+k+";", true)
		case i == 0:
			f.add("h="+k+":", true)
		case i == len(keys)-1:
			f.add(k+";", false)
		default:
			f.add(k+":", false)
		}
	}
	f.add("bh="+base64.StdEncoding.EncodeToString(bh[:])+";", true)
	f.add("b=", true)

	h := sha256.New()
	writeSignedFields(h, fields, keys)
	h.Write(relaxHeader(nil, f.buf))
	sig, err := signer.Sign(rand.Reader, h.Sum(nil), hashOpt)
	if err != nil {
		return nil, fmt.Errorf("dkim sign for %s (selector %s): %w", d.Domain, selector, err)
	}
	b := base64.StdEncoding.EncodeToString(sig)
	for first := true; b != ""; first = false {
		n := min(len(b), 64)
		f.add(b[:n], !first)
		b = b[n:]
	}
	return append(append(dst, f.buf...), '\r', '\n'), nil
}

// writeSignedFields writes to h, in relaxed form, the fields keys name:
// for each name the last of its fields not taken yet (RFC 6376 §5.4.2).
func writeSignedFields(h hash.Hash, fields []headerField, keys []string) {
	taken := make([]bool, len(fields))
	var buf []byte
	for _, k := range keys {
		for i := len(fields) - 1; i >= 0; i-- {
			if taken[i] || !strings.EqualFold(fields[i].name, k) {
				continue
			}
			taken[i] = true
			buf = relaxHeader(buf[:0], fields[i].raw)
			buf = append(buf, '\r', '\n')
			h.Write(buf)
			break
		}
	}
}

// folder writes a header field as words, folding its lines before they
// pass 76 characters.
type folder struct {
	buf     []byte
	lineLen int
}

// add appends word, after a space when spaced, or on a new line when the
// line is full. A word that is not spaced may only follow where folding
// white space is allowed (inside h= and b=, RFC 6376 §3.5).
func (f *folder) add(word string, spaced bool) {
	n := len(word)
	if spaced {
		n++
	}
	if f.lineLen > 0 && f.lineLen+n > 76 {
		f.buf = append(f.buf, "\r\n "...)
		f.lineLen = 1
	} else if spaced {
		f.buf = append(f.buf, ' ')
		f.lineLen++
	}
	f.buf = append(f.buf, word...)
	f.lineLen += len(word)
}
