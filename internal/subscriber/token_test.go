package subscriber

import (
	"crypto/rand"
	"errors"
	"strings"
	"testing"
	"time"
)

func testTokens(t testing.TB, key string) *Tokens {
	t.Helper()
	tk, err := NewTokens([]byte(strings.Repeat(key, 32)[:32]))
	if err != nil {
		t.Fatal(err)
	}
	return tk
}

func TestTokens(t *testing.T) {
	tk := testTokens(t, "k")
	now := time.Date(2024, 12, 20, 8, 0, 0, 0, time.UTC)
	confirm, err := tk.Make(Claims{Purpose: Confirm, SubscriberID: 42, List: "ban-tin-sang", Expires: now.Add(168 * time.Hour)})
	if err != nil {
		t.Fatal(err)
	}
	unsub, _ := tk.Make(Claims{Purpose: Unsubscribe, SubscriberID: 42, List: "ban-tin-sang"})
	again, _ := tk.Make(Claims{Purpose: Unsubscribe, SubscriberID: 42, List: "ban-tin-sang"})
	if unsub == again {
		t.Error("two tokens for the same claims are equal; each must carry its own nonce")
	}

	c, err := tk.Check(confirm, Confirm, now)
	if err != nil || c.SubscriberID != 42 || c.List != "ban-tin-sang" || c.Purpose != Confirm {
		t.Errorf("Check(confirm) = %+v, %v", c, err)
	}
	if _, err := tk.Check(confirm, Confirm, now.Add(168*time.Hour)); !errors.Is(err, ErrExpiredToken) {
		t.Errorf("confirmation link after its TTL: %v, want ErrExpiredToken", err)
	}
	if c, err := tk.Check(unsub, Unsubscribe, now.Add(10*365*24*time.Hour)); err != nil || c.SubscriberID != 42 {
		t.Errorf("an unsubscribe link ten years on: %+v, %v; want it to work", c, err)
	}
	for name, tc := range map[string]struct {
		token   string
		purpose Purpose
	}{
		"cross-purpose":    {unsub, Confirm},
		"confirm as unsub": {confirm, Unsubscribe},
		"empty":            {"", Unsubscribe},
		"not base64":       {"!!!", Unsubscribe},
		"truncated":        {unsub[:len(unsub)-4], Unsubscribe},
		"other key": {func() string {
			s, _ := testTokens(t, "x").Make(Claims{Purpose: Unsubscribe, SubscriberID: 42})
			return s
		}(), Unsubscribe},
		"huge":               {strings.Repeat("A", 5000), Unsubscribe},
		"flipped last char":  {flip(unsub, len(unsub)-1), Unsubscribe},
		"flipped first char": {flip(unsub, 0), Unsubscribe},
		"flipped middle":     {flip(unsub, len(unsub)/2), Unsubscribe},
	} {
		if _, err := tk.Check(tc.token, tc.purpose, now); !errors.Is(err, ErrBadToken) {
			t.Errorf("%s: %v, want ErrBadToken", name, err)
		}
	}
}

func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func TestTokenKeyTooShort(t *testing.T) {
	if _, err := NewTokens([]byte("short")); err == nil {
		t.Error("a 5-byte key was accepted")
	}
}

// FuzzCheckToken: no input makes Check panic or accept a token it did not
// make.
func FuzzCheckToken(f *testing.F) {
	// A fresh key each run: tokens kept in the corpus from earlier runs were
	// made with another key and must all be refused.
	key := make([]byte, SecretSize)
	if _, err := rand.Read(key); err != nil {
		f.Fatal(err)
	}
	tk, err := NewTokens(key)
	if err != nil {
		f.Fatal(err)
	}
	good, _ := tk.Make(Claims{Purpose: Unsubscribe, SubscriberID: 7, List: "l"})
	f.Add(good)
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, token string) {
		if _, err := tk.Check(token, Unsubscribe, time.Now()); err == nil && token != good {
			t.Errorf("accepted a token it did not make: %q", token)
		}
	})
}
