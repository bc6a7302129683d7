package digest

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bantin/bantin/internal/article"
	"github.com/bantin/bantin/internal/mail"
	"github.com/bantin/bantin/internal/mail/smtptest"
	"github.com/emersion/go-msgauth/dkim"
)

// TestSignedDelivery: an issue sent through a signing SMTP transport (the
// copies signed ahead of their sending, on other goroutines) reaches every
// subscriber with one DKIM signature that verifies, for RSA and Ed25519
// keys, including the copies sent after an article was edited mid-send
// (a new variant of the issue) and the copies of a narrower variant.
func TestSignedDelivery(t *testing.T) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	rsaPub, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	edPub, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	keys := []struct {
		name   string
		signer crypto.Signer
		txt    string
	}{
		{"rsa-2048", rsaKey, "v=DKIM1; k=rsa; p=" + base64.StdEncoding.EncodeToString(rsaPub)},
		{"ed25519", edKey, "v=DKIM1; k=ed25519; p=" + base64.StdEncoding.EncodeToString(edPub)},
	}
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			ctx := context.Background()
			// The first try of every fifth subscriber is refused for now:
			// those copies go out in the second run, after the edit.
			srv := smtptest.Start(t, smtptest.Options{KeepData: true, Policy: func(rcpt string, seq int) smtptest.Fault {
				if strings.HasSuffix(rcpt, "0@example.vn") || strings.HasSuffix(rcpt, "5@example.vn") {
					if seq <= 60 {
						return smtptest.TempRcpt
					}
				}
				return smtptest.Accept
			}})
			transport, err := mail.NewSMTPTransport(mail.SMTPOptions{Host: "127.0.0.1", Port: srv.Port, TLS: "none", Connections: 4,
				DKIM: &mail.DKIM{Domain: "baomau.vn", Selector: "sel", Signer: k.signer}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { transport.Close() })
			now := time.Date(2024, 3, 28, 6, 0, 0, 0, time.UTC)
			f := newFixture(t, now, transport, newsletter(t, "sang", "0 6 * * *", "UTC"))
			f.article(t, "a1", "", now.Add(-2*time.Hour), now.Add(-2*time.Hour))
			f.article(t, "a2", "the-thao", now.Add(-time.Hour), now.Add(-time.Hour))
			var emails []string
			for i := range 60 {
				emails = append(emails, fmt.Sprintf("doc-gia-%02d@example.vn", i))
			}
			ids := f.subscribe(t, "sang", emails...)
			// A few read only sport: a variant of their own.
			for _, id := range ids[:6] {
				if err := f.store.SetCategories(ctx, id, []string{"the-thao"}); err != nil {
					t.Fatal(err)
				}
			}
			if _, err := f.svc.SendNow(ctx, "sang"); err != nil {
				t.Fatal(err)
			}
			if _, err := f.svc.DeliverDue(ctx, nil); err != nil {
				t.Fatal(err)
			}
			first := len(srv.Messages())
			if first == 0 || first >= 60 {
				t.Fatalf("%d copies in the first run; want some held back", first)
			}
			// a2 re-rendered while the issue goes out.
			edited := article.Article{ID: "a2", GUID: "tag:baomau.vn,2024:a2", Title: "Bài a2 (sửa)", Slug: "a2",
				Summary: "Tóm tắt đã sửa  \t của a2", ContentHTML: "<p>a2 đã sửa</p>", InputHash: "a2-edited",
				URL: "https://baomau.vn/a2.html", PublishedAt: now.Add(-time.Hour), Categories: []article.Category{{Slug: "the-thao", Title: "the-thao"}}}
			if _, err := f.store.SaveArticles(ctx, now, []article.Article{edited}); err != nil {
				t.Fatal(err)
			}
			f.clock.Add(15 * time.Minute)
			if _, err := f.svc.DeliverDue(ctx, nil); err != nil {
				t.Fatal(err)
			}
			msgs := srv.Messages()
			if len(msgs) != 60 {
				t.Fatalf("%d copies, want 60", len(msgs))
			}
			lookup := func(domain string) ([]string, error) {
				if domain != "sel._domainkey.baomau.vn" {
					return nil, fmt.Errorf("no TXT record at %s", domain)
				}
				return []string{k.txt}, nil
			}
			editedSeen := 0
			for i, m := range msgs {
				if n := bytes.Count(m.Data, []byte("DKIM-Signature:")); n != 1 {
					t.Fatalf("copy to %s carries %d DKIM-Signature fields, want 1", m.To, n)
				}
				verifs, err := dkim.VerifyWithOptions(bytes.NewReader(m.Data), &dkim.VerifyOptions{LookupTXT: lookup})
				if err != nil || len(verifs) != 1 || verifs[0].Err != nil {
					t.Fatalf("copy to %s does not verify: %v %+v\n%s", m.To, err, verifs, m.Data)
				}
				if i >= first && bytes.Contains(m.Data, []byte("(s=E1=BB=ADa)")) {
					editedSeen++
				}
				if i == 0 {
					// The check can fail: one byte changed breaks it.
					changed := bytes.Clone(m.Data)
					changed[len(changed)/2] ^= 1
					if v, _ := dkim.VerifyWithOptions(bytes.NewReader(changed), &dkim.VerifyOptions{LookupTXT: lookup}); len(v) == 1 && v[0].Err == nil {
						t.Fatal("a copy with a byte changed still verifies")
					}
				}
			}
			if editedSeen == 0 {
				t.Errorf("no copy of the second run shows the edited article")
			}
		})
	}
}
