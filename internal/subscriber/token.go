// Package subscriber holds what bantin knows of its readers who take the
// newsletters: their addresses, lists and preferences, and the tokens in
// the links of their emails.
package subscriber

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Purpose is what a token lets its bearer do. A token made for one purpose
// is refused for any other.
type Purpose byte

// The purposes of the links in bantin's emails.
const (
	Confirm     Purpose = 'c' // double opt-in; expires after subscribe.confirm_ttl
	Unsubscribe Purpose = 'u' // never expires: old emails keep working
	Preferences Purpose = 'p' // never expires
	// Bounce names a delivery in the return path (bounces+TOKEN@domain):
	// an issue's copy to a subscriber, or a confirmation email (issue 0).
	// It never expires: bounces come back days later.
	Bounce Purpose = 'b'
)

func (p Purpose) String() string {
	switch p {
	case Confirm:
		return "confirm"
	case Unsubscribe:
		return "unsubscribe"
	case Preferences:
		return "preferences"
	case Bounce:
		return "bounce"
	}
	return fmt.Sprintf("purpose(%d)", byte(p))
}

// Token errors. Callers answer each with a 4xx and change nothing.
var (
	ErrBadToken     = errors.New("this link is not valid")
	ErrExpiredToken = errors.New("this link has expired")
)

// SecretSize is the length of the token key kept in the store.
const SecretSize = 32

// macSize is how much of the HMAC a token carries: 128 bits, beyond any
// guessing.
const macSize = 16

const tokenVersion = 1

// Claims are what a token says: who, what for, which list, until when.
type Claims struct {
	Purpose      Purpose
	SubscriberID int64
	List         string    // "" for every list
	Expires      time.Time // zero: never
}

// Tokens makes and checks the tokens of email links with the store's
// secret. It is safe for concurrent use.
type Tokens struct {
	key []byte
}

// NewTokens uses key (the store's Secret) to sign tokens.
func NewTokens(key []byte) (*Tokens, error) {
	if len(key) < 16 {
		return nil, fmt.Errorf("token key of %d bytes; want at least 16", len(key))
	}
	return &Tokens{key: append([]byte(nil), key...)}, nil
}

// Make returns a URL-safe token for c. Each call gives a different token
// (a random nonce), so a token in one email says nothing of another's.
func (t *Tokens) Make(c Claims) (string, error) {
	if len(c.List) > 255 {
		return "", fmt.Errorf("list id %q too long for a token", c.List)
	}
	payload := []byte{tokenVersion, byte(c.Purpose)}
	payload = binary.AppendUvarint(payload, uint64(c.SubscriberID))
	var expires int64
	if !c.Expires.IsZero() {
		expires = c.Expires.Unix()
	}
	payload = binary.AppendVarint(payload, expires)
	payload = append(payload, byte(len(c.List)))
	payload = append(payload, c.List...)
	var nonce [8]byte
	if _, err := rand.Read(nonce[:]); err != nil {
		return "", fmt.Errorf("token nonce: %w", err)
	}
	payload = append(payload, nonce[:]...)
	return base64.RawURLEncoding.EncodeToString(append(payload, t.mac(payload)...)), nil
}

func (t *Tokens) mac(payload []byte) []byte {
	m := hmac.New(sha256.New, t.key)
	m.Write(payload)
	return m.Sum(nil)[:macSize]
}

// Check verifies a token for purpose at now and returns its claims. A
// forged or altered token, one made for another purpose, and an expired
// one are refused; the MAC is compared in constant time.
func (t *Tokens) Check(token string, purpose Purpose, now time.Time) (Claims, error) {
	// Strict: one spelling per token, no variants that differ in unused bits.
	raw, err := base64.RawURLEncoding.Strict().DecodeString(token)
	if err != nil || len(raw) < 2+1+1+1+8+macSize || len(raw) > 512 {
		return Claims{}, ErrBadToken
	}
	payload, mac := raw[:len(raw)-macSize], raw[len(raw)-macSize:]
	if !hmac.Equal(mac, t.mac(payload)) || payload[0] != tokenVersion {
		return Claims{}, ErrBadToken
	}
	c := Claims{Purpose: Purpose(payload[1])}
	rest := payload[2:]
	id, n := binary.Uvarint(rest)
	if n <= 0 || id > 1<<62 {
		return Claims{}, ErrBadToken
	}
	rest = rest[n:]
	expires, n := binary.Varint(rest)
	if n <= 0 {
		return Claims{}, ErrBadToken
	}
	rest = rest[n:]
	if len(rest) < 1 || len(rest) != 1+int(rest[0])+8 {
		return Claims{}, ErrBadToken
	}
	c.SubscriberID, c.List = int64(id), string(rest[1:1+int(rest[0])])
	if c.Purpose != purpose {
		return Claims{}, ErrBadToken
	}
	if expires != 0 {
		c.Expires = time.Unix(expires, 0)
		if !now.Before(c.Expires) {
			return Claims{}, ErrExpiredToken
		}
	}
	return c, nil
}

// returnMACSize is how much of the HMAC a return path token carries: 96
// bits keep the local part short and are still beyond guessing (a forger
// gets one try per bounce message sent to bantin).
const returnMACSize = 12

// lowerBase32 spells the MAC of a return path token in lower case without
// padding: some MTAs lower-case local parts, and the token must survive.
var lowerBase32 = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// MakeReturn returns the token of a return path naming a delivery: the
// copy of issue issueID to subscriberID, or a confirmation email when
// issueID is 0. It is the ids in base36 and a MAC, about 30 characters,
// so bounces+TOKEN@domain stays well within the 64 octets of a local
// part. The same delivery always gets the same token.
func (t *Tokens) MakeReturn(issueID, subscriberID int64) string {
	ids := strconv.FormatInt(issueID, 36) + "-" + strconv.FormatInt(subscriberID, 36)
	return ids + "-" + lowerBase32.EncodeToString(t.returnMAC(issueID, subscriberID))
}

func (t *Tokens) returnMAC(issueID, subscriberID int64) []byte {
	m := hmac.New(sha256.New, t.key)
	// The purpose and a version first: no other token's MAC input starts
	// this way, so no other link's MAC is a valid return path's.
	payload := []byte{0, byte(Bounce), tokenVersion}
	payload = binary.AppendUvarint(payload, uint64(issueID))
	payload = binary.AppendUvarint(payload, uint64(subscriberID))
	m.Write(payload)
	return m.Sum(nil)[:returnMACSize]
}

// CheckReturn verifies a return path token, in any case, and returns the
// issue (0 for a confirmation email) and subscriber it names. A forged or
// altered token, or a link token of another purpose, is ErrBadToken.
func (t *Tokens) CheckReturn(token string) (issueID, subscriberID int64, err error) {
	token = strings.ToLower(token)
	parts := strings.Split(token, "-")
	if len(token) > 64 || len(parts) != 3 {
		return 0, 0, ErrBadToken
	}
	issue, err1 := strconv.ParseUint(parts[0], 36, 62)
	sub, err2 := strconv.ParseUint(parts[1], 36, 62)
	mac, err3 := lowerBase32.DecodeString(parts[2])
	if err1 != nil || err2 != nil || err3 != nil || len(mac) != returnMACSize {
		return 0, 0, ErrBadToken
	}
	if !hmac.Equal(mac, t.returnMAC(int64(issue), int64(sub))) {
		return 0, 0, ErrBadToken
	}
	return int64(issue), int64(sub), nil
}

// ReturnPath makes the VERP envelope senders of mail.return_path: the
// local part, a "+", a token naming the delivery, and the domain.
type ReturnPath struct {
	tokens        *Tokens
	local, domain string
}

// NewReturnPath returns the return path of address (mail.return_path),
// nil when address is empty: the envelope sender is then From.
func NewReturnPath(tokens *Tokens, address string) (*ReturnPath, error) {
	if address == "" {
		return nil, nil
	}
	at := strings.LastIndexByte(address, '@')
	if at <= 0 || at == len(address)-1 || strings.ContainsAny(address, "+ <>") {
		return nil, fmt.Errorf("mail.return_path %q: want a plain address such as bounces@news.example.vn", address)
	}
	// A local part holds at most 64 octets (RFC 5321). A token is 24
	// characters plus the ids in base36: 40 hold an issue id up to 36^6
	// and a subscriber id up to 36^10, far beyond any list.
	if at > 64-1-40 {
		return nil, fmt.Errorf("mail.return_path %q: the part before @ is %d characters; at most 23 leave room for the token", address, at)
	}
	return &ReturnPath{tokens: tokens, local: address[:at], domain: address[at+1:]}, nil
}

// Prefix is the local part before the "+", which bounce.Options needs to
// find the token.
func (r *ReturnPath) Prefix() string { return r.local }

// For returns the envelope sender of one delivery (issueID 0 for a
// confirmation email).
func (r *ReturnPath) For(issueID, subscriberID int64) string {
	return r.local + "+" + r.tokens.MakeReturn(issueID, subscriberID) + "@" + r.domain
}
