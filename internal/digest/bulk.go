package digest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	netmail "net/mail"
	"strings"
	"sync"
	"time"

	"github.com/bantin/bantin/internal/mail"
)

// An issue's copies differ only in the reader's name, address and links.
// So each variant of an issue (the articles a reader's categories leave,
// with or without a name) is rendered once with placeholders for those
// values, and each copy is made by putting the reader's values in their
// place (mail.Bulk), instead of running the templates for every reader.
//
// That is right only where the templates put a value that html/template
// escapes as htmlEscape does: text and attributes, as the built-in
// templates do. An admin's template may put a name elsewhere (a script, a
// URL query), so every variant is first rendered both ways for a probe
// reader whose values hold the characters that escaping changes; if the
// two differ, that variant's copies are each rendered on their own.

// variant is one shape of an issue's copies.
type variant struct {
	issue Issue
	bulk  *mail.Bulk // nil: render each copy
}

// variants caches an issue's variants while it is being delivered.
type variants struct {
	mu sync.Mutex
	m  map[string]*variant
}

// personalKeys are a service's placeholders: name, address, unsubscribe
// and preferences links. Letters and digits only, so that no escaping
// changes them, and random, so that no article holds them.
func personalKeys() [4]string {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand does not fail
	nonce := hex.EncodeToString(b[:])
	return [4]string{"zbt" + nonce + "name", "zbt" + nonce + "email", "zbt" + nonce + "unsub", "zbt" + nonce + "prefs"}
}

// htmlEscape escapes as html/template does in text and attributes.
var htmlEscape = strings.NewReplacer("\x00", "\uFFFD", `"`, "&#34;", "&", "&amp;", "'", "&#39;", "+", "&#43;", "<", "&lt;", ">", "&gt;").Replace

// values are a reader's values for the placeholders, as the text part and
// the headers show them and as the HTML part does.
func values(to Recipient) (text, html []string) {
	text = []string{to.Name, to.Email, to.UnsubscribeURL, to.PreferencesURL}
	html = make([]string, len(text))
	for i, v := range text {
		html[i] = htmlEscape(v)
	}
	return text, html
}

// errNotSubstitutable: the templates do not show a personal value as
// plain substitution would.
var errNotSubstitutable = errors.New("the templates show a reader's values in a way substitution cannot reproduce")

// variant returns the variant of own (the issue narrowed to a reader's
// categories) for a reader with or without a name.
func (s *Service) variant(cache *variants, own Issue, hasName bool) *variant {
	var key strings.Builder
	for _, a := range own.Articles {
		key.WriteString(a.ID)
		key.WriteByte(0)
	}
	fmt.Fprint(&key, hasName)
	cache.mu.Lock()
	defer cache.mu.Unlock()
	if v, ok := cache.m[key.String()]; ok {
		return v
	}
	v := &variant{issue: own}
	bulk, err := s.prepare(own, hasName)
	if err != nil {
		s.opts.Logger.Info("digest: rendering each copy on its own", "list", own.List.ID, "issue", own.Number, "why", err)
	}
	v.bulk = bulk
	if cache.m == nil {
		cache.m = map[string]*variant{}
	}
	cache.m[key.String()] = v
	return v
}

// prepare renders is once with placeholders and checks the result against
// a probe reader rendered in full.
func (s *Service) prepare(is Issue, hasName bool) (*mail.Bulk, error) {
	keys := s.keys
	holder := Recipient{Email: keys[1], UnsubscribeURL: keys[2], PreferencesURL: keys[3]}
	// Links are the base URL and a token (letters, digits, - and _); a
	// name or an address can hold anything.
	probe := Recipient{Email: "doc+gia'1@example.vn", UnsubscribeURL: s.opts.BaseURL + "/unsubscribe/a+b&c=d_e-f",
		PreferencesURL: s.opts.BaseURL + "/preferences/x+y&z"}
	if hasName {
		holder.Name, probe.Name = keys[0], `Nữ <b>&"Hà"</b> + 'Lan'`
	}
	prep, err := is.Render(s.opts.Emails, holder)
	if err != nil {
		return nil, err
	}
	want, err := is.Render(s.opts.Emails, probe)
	if err != nil {
		return nil, err
	}
	text, html := values(probe)
	replace := func(s string, vals []string) string {
		for i, k := range keys {
			s = strings.ReplaceAll(s, k, vals[i])
		}
		return s
	}
	if prep.Subject != want.Subject || replace(prep.Text, text) != want.Text || replace(prep.HTML, html) != want.HTML {
		return nil, errNotSubstitutable
	}
	for k, v := range want.Headers {
		if replace(prep.Headers[k], text) != v {
			return nil, errNotSubstitutable
		}
	}
	return mail.NewBulk(mail.BulkMessage{From: s.opts.From, ReplyTo: s.opts.ReplyTo, Subject: prep.Subject,
		Text: prep.Text, HTML: prep.HTML, Headers: prep.Headers}, keys[:], s.opts.Location)
}

// copyOf makes one reader's copy of a variant.
func (s *Service) copyOf(v *variant, to Recipient, messageID string, now time.Time) (mail.Message, error) {
	if v.bulk == nil {
		return s.message(v.issue, to, messageID)
	}
	text, html := values(to)
	return v.bulk.CopyMessage(netmail.Address{Name: to.Name, Address: to.Email}, messageID, now, text, html)
}
