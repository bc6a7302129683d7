// Package subscriber holds what bantin knows of its readers who take the
// newsletters: their addresses, lists and preferences, and the tokens in
// the links of their emails.
package subscriber

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
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
)

func (p Purpose) String() string {
	switch p {
	case Confirm:
		return "confirm"
	case Unsubscribe:
		return "unsubscribe"
	case Preferences:
		return "preferences"
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
