package mail

import (
	"bytes"
	"crypto"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// dkimHeaders are the header fields a signature covers, in this order, when
// the message has them. From is listed twice: the second, absent instance
// "oversigns" it, so a From added in transit breaks the signature instead of
// riding on it (RFC 6376 §8.15).
var dkimHeaders = []string{
	"From", "To", "Subject", "Date", "Message-ID", "MIME-Version",
	"Content-Type", "Reply-To", "List-Id", "List-Unsubscribe",
	"List-Unsubscribe-Post",
}

// minRSABits is the smallest RSA key accepted; RFC 8301 forbids signing with
// less than 1024 bits.
const minRSABits = 1024

// DKIM signs messages for a domain (RFC 6376) with relaxed/relaxed
// canonicalization and rsa-sha256 or ed25519-sha256, depending on the key.
// It holds no per-message state, so one DKIM may sign from many goroutines.
//
// bantin signs with its own code (dkimsign.go) rather than go-mail's signer:
// go-mail v0.8.1 folds a long h= list in the middle of a header name, so its
// signatures stop verifying once they cover List-Unsubscribe and
// List-Unsubscribe-Post.
type DKIM struct {
	Domain   string        // the d= tag: the domain publishing the key
	Selector string        // the s= tag: the key is at Selector._domainkey.Domain
	Signer   crypto.Signer // *rsa.PrivateKey or ed25519.PrivateKey
	// Also are more keys of Domain, each signing every message with a
	// signature of its own beside Signer's: typically RSA, which every
	// receiver checks, and Ed25519 (RFC 8463 §5). They share the body
	// hash, so a key costs one more signature a message.
	Also []DKIMKey
}

// DKIMKey is one more key of a DKIM's domain (mail.dkim.extra_keys).
type DKIMKey struct {
	Selector string
	Signer   crypto.Signer
}

// LoadDKIM reads the private key in keyFile (PEM: PKCS#1 or PKCS#8 RSA of at
// least 1024 bits, or PKCS#8 Ed25519) and returns a DKIM for domain and
// selector (the mail.dkim.* keys). Its errors name the key and the file and
// say how to fix it.
func LoadDKIM(domain, selector, keyFile string) (*DKIM, error) {
	if domain == "" {
		return nil, errors.New("mail.dkim.domain: empty; set it to the domain that publishes the DKIM key (the d= of the signature)")
	}
	k, err := LoadDKIMKey("mail.dkim", domain, selector, keyFile)
	if err != nil {
		return nil, err
	}
	return &DKIM{Domain: domain, Selector: k.Selector, Signer: k.Signer}, nil
}

// LoadDKIMKey reads one key of domain, set at the config key name
// ("mail.dkim", "mail.dkim.extra_keys[0]"), which its errors start with.
func LoadDKIMKey(name, domain, selector, keyFile string) (DKIMKey, error) {
	if selector == "" {
		return DKIMKey{}, errors.New(name + ".selector: empty; set it to the selector of the key (its TXT record is at SELECTOR._domainkey." + domain + ")")
	}
	if keyFile == "" {
		return DKIMKey{}, errors.New(name + ".key_file: empty; set it to a PEM private key file")
	}
	data, err := os.ReadFile(keyFile)
	if err != nil {
		return DKIMKey{}, fmt.Errorf("%s.key_file: cannot read the DKIM key (check the path and its permissions): %w", name, err)
	}
	signer, err := parseDKIMKey(data)
	if err != nil {
		return DKIMKey{}, fmt.Errorf("%s.key_file %s: %w", name, keyFile, err)
	}
	return DKIMKey{Selector: selector, Signer: signer}, nil
}

// keyHelp says how to make a key LoadDKIM accepts.
const keyHelp = "make one with `openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out dkim.pem` or `openssl genpkey -algorithm ed25519 -out dkim.pem`"

// parseDKIMKey returns the private key in the first PEM block of data.
func parseDKIMKey(data []byte) (crypto.Signer, error) {
	block, _ := pem.Decode(data)
	if block == nil {
		return nil, fmt.Errorf("not a PEM file: expected a block starting with -----BEGIN PRIVATE KEY----- or -----BEGIN RSA PRIVATE KEY-----; %s", keyHelp)
	}
	if strings.Contains(block.Headers["Proc-Type"], "ENCRYPTED") || block.Type == "ENCRYPTED PRIVATE KEY" {
		return nil, fmt.Errorf("the key is encrypted; store it without a passphrase (`openssl pkey -in KEY -out dkim.pem`)")
	}
	var key any
	var err error
	switch block.Type {
	case "RSA PRIVATE KEY":
		key, err = x509.ParsePKCS1PrivateKey(block.Bytes)
	case "PRIVATE KEY":
		key, err = x509.ParsePKCS8PrivateKey(block.Bytes)
	default:
		return nil, fmt.Errorf("PEM block is %q, not a private key: expected PRIVATE KEY (PKCS#8) or RSA PRIVATE KEY (PKCS#1); %s", block.Type, keyHelp)
	}
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w; %s", block.Type, err, keyHelp)
	}
	switch k := key.(type) {
	case *rsa.PrivateKey:
		if bits := k.N.BitLen(); bits < minRSABits {
			return nil, fmt.Errorf("RSA key has %d bits, fewer than %d; %s", bits, minRSABits, keyHelp)
		}
		return k, nil
	case ed25519.PrivateKey:
		return k, nil
	}
	return nil, fmt.Errorf("%T is not an RSA or Ed25519 key, the only kinds DKIM signs with; %s", key, keyHelp)
}

// Sign returns msg (a whole message with CRLF line endings, as Render makes
// it) with a DKIM-Signature header in front, one for each key. The signature covers those of
// From, To, Subject, Date, Message-ID, MIME-Version, Content-Type, Reply-To,
// List-Id, List-Unsubscribe and List-Unsubscribe-Post that msg has, and the
// whole body.
//
// A message with a bare CR or LF (a line break that is not CRLF, which RFC
// 5322 forbids) is signed and returned with each made CRLF: verifiers and
// relays read such breaks in different ways, and the bytes sent must be
// the bytes signed.
func (d *DKIM) Sign(msg []byte) ([]byte, error) {
	return d.signMessage(msg, false, nil)
}

// signRaw signs a Raw message. One whose maker knows its body to be its
// own relaxed canonical form (RFC 6376 §3.4.4) with CRLF line ends, as
// Bulk reports of most copies (RawCanonical), has its body hashed as it
// is, without the look at each line that Sign gives it, which costs as
// much as the hash; a body wrongly said canonical gets a signature that
// fails, so only a maker that checked may say so.
func (d *DKIM) signRaw(m Message) ([]byte, error) {
	return d.signMessage(m.Raw, m.RawCanonical, m.headroom)
}

// signatureRoom is the space Bulk leaves in front of a copy for its
// signatures: an RSA-2048 and an Ed25519 one take about 1 KB.
const signatureRoom = 2 << 10

// signMessage returns msg with its signatures in front. headroom, when
// msg's buffer has one (Bulk), takes them if they fit: a 53 KB copy is
// then not allocated and copied again: 4-5% of the CPU of a digest signed
// with Ed25519 (scripts/bench/digest.sh).
// Only one goroutine at a time may sign a message with headroom.
func (d *DKIM) signMessage(msg []byte, canonical bool, headroom []byte) ([]byte, error) {
	header, body := splitMessage(msg)
	var bh [sha256.Size]byte
	var bare bool
	if canonical {
		bh = sha256.Sum256(body)
	} else {
		bh, bare = hashBody(body)
	}
	if bare || bareBreak(header) {
		msg = crlfLines(msg)
		header, body = splitMessage(msg)
		bh, _ = hashBody(body)
	}
	fields := headerFields(header)
	keys := signedKeys(fields)
	if !containsFold(keys, "From") {
		return nil, fmt.Errorf("dkim sign: %w: no From header", ErrInvalid)
	}
	keys = append(keys, "From") // oversign
	sig, err := d.sign(fields, bh, keys, time.Now())
	if err != nil {
		return nil, err
	}
	if n := len(headroom); n >= len(sig) && len(msg) > 0 && cap(headroom)-n >= len(msg) {
		// msg must still be the bytes after the headroom (not a copy made
		// with CRLF line ends above, say).
		if whole := headroom[:n+len(msg)]; &whole[n] == &msg[0] {
			copy(whole[n-len(sig):], sig)
			return whole[n-len(sig):], nil
		}
	}
	out := make([]byte, 0, len(sig)+len(msg))
	out = append(out, sig...)
	return append(out, msg...), nil
}

// bareBreak reports whether b has a CR or LF that is not part of a CRLF.
func bareBreak(b []byte) bool {
	crlf := bytes.Count(b, []byte("\r\n"))
	return bytes.Count(b, []byte("\r")) != crlf || bytes.Count(b, []byte("\n")) != crlf
}

// crlfLines returns msg with every bare CR and bare LF made CRLF; msg
// itself when it has none, as every message bantin builds.
func crlfLines(msg []byte) []byte {
	if !bareBreak(msg) {
		return msg
	}
	out := make([]byte, 0, len(msg)+len(msg)/16)
	for i := 0; i < len(msg); i++ {
		switch c := msg[i]; {
		case c == '\r' && i+1 < len(msg) && msg[i+1] == '\n':
			out = append(out, '\r', '\n')
			i++
		case c == '\r' || c == '\n':
			out = append(out, '\r', '\n')
		default:
			out = append(out, c)
		}
	}
	return out
}

// signedHeaders returns the names in dkimHeaders that occur in msg's header,
// in the order of dkimHeaders.
func signedHeaders(msg []byte) []string {
	header, _ := splitMessage(msg)
	return signedKeys(headerFields(header))
}

// signedKeys returns the names in dkimHeaders that fields has, in the
// order of dkimHeaders.
func signedKeys(fields []headerField) []string {
	var keys []string
	for _, name := range dkimHeaders {
		for _, f := range fields {
			if strings.EqualFold(f.name, name) {
				keys = append(keys, name)
				break
			}
		}
	}
	return keys
}

func containsFold(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// encode writes msg out and, when d is not nil, signs the result.
func encode(msg *gomail.Msg, d *DKIM) ([]byte, error) {
	var buf bytes.Buffer
	if _, err := msg.WriteTo(&buf); err != nil {
		return nil, fmt.Errorf("render: %w", err)
	}
	if d == nil {
		return buf.Bytes(), nil
	}
	return d.Sign(buf.Bytes())
}
