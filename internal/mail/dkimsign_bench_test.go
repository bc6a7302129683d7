package mail

import (
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"golang.org/x/text/unicode/norm"
)

// digestSized is a copy of the size and shape of a 20-article digest (about
// 53 KB, text and HTML, quoted-printable), made by Bulk.
func digestSized(tb testing.TB) []byte {
	tb.Helper()
	para := "Trị sức thôn sát mặt nhân hiệu người vận làm, ngày 2 tháng 12 năm 2026 · Nguyễn Thị Ngọc Nữ.\n"
	var text, html strings.Builder
	text.WriteString("Xin chào ZZNAME,\n\n")
	html.WriteString("<p>Xin chào <b>ZZNAME</b>,</p>\n")
	for i := range 20 {
		text.WriteString(strings.Repeat(para, 6) + "https://baomau.vn/bai-viet/" + strings.Repeat("x", i) + "\n\n")
		html.WriteString("<article>\n  <h2><a href=\"https://baomau.vn/bai-viet/x\">Tiêu đề</a></h2>\n  <p>" +
			strings.Repeat(strings.TrimSpace(para)+" ", 8) + "</p>\n</article>\n")
	}
	text.WriteString("Hủy đăng ký: ZZLINK\n")
	html.WriteString("<p><a href=\"ZZLINK\">Hủy đăng ký</a></p>\n")
	m := vietnamese("doc-gia-1@example.vn")
	b, err := NewBulk(BulkMessage{From: m.From, ReplyTo: m.ReplyTo, Subject: m.Subject, Text: norm.NFC.String(text.String()),
		HTML: norm.NFC.String(html.String()), Headers: map[string]string{"List-Id": m.Headers["List-Id"],
			"List-Unsubscribe": "<ZZLINK>", "List-Unsubscribe-Post": "List-Unsubscribe=One-Click"}},
		[]string{"ZZNAME", "ZZLINK"}, time.UTC)
	if err != nil {
		tb.Fatal(err)
	}
	link := "https://baomau.vn/unsubscribe/abc123"
	cp, err := b.CopyMessage(m.To, "issue-7.sub-3@example.vn", m.Date, []string{"Độc giả 1", link}, []string{"Độc giả 1", link})
	if err != nil {
		tb.Fatal(err)
	}
	return cp.Raw
}

// BenchmarkDKIMSign: bantin's signer against go-msgauth's on a digest-sized
// copy, per key kind. The difference between the two is the canonicalization.
func BenchmarkDKIMSign(b *testing.B) {
	raw := digestSized(b)
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		b.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	for _, k := range []struct {
		name string
		d    *DKIM
	}{{"ed25519", &DKIM{Domain: "example.vn", Selector: "sel", Signer: edKey}}, {"rsa-2048", &DKIM{Domain: "example.vn", Selector: "sel", Signer: rsaKey}}} {
		b.Run(k.name+"/bantin", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := k.d.Sign(raw); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(k.name+"/bantin-canonical", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := k.d.signRaw(Message{Raw: raw, RawCanonical: true}); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(k.name+"/bantin-in-place", func(b *testing.B) {
			// As a digest's copies are signed: canonical, with room
			// in front for the signature.
			buf := make([]byte, signatureRoom+len(raw))
			copy(buf[signatureRoom:], raw)
			m := Message{Raw: buf[signatureRoom:], RawCanonical: true, headroom: buf[:signatureRoom]}
			b.SetBytes(int64(len(raw)))
			for b.Loop() {
				if _, err := k.d.signRaw(m); err != nil {
					b.Fatal(err)
				}
			}
		})
		b.Run(k.name+"/go-msgauth", func(b *testing.B) {
			b.SetBytes(int64(len(raw)))
			keys := append(signedHeaders(raw), "From")
			for b.Loop() {
				s, err := dkim.NewSigner(&dkim.SignOptions{Domain: "example.vn", Selector: "sel", Signer: k.d.Signer,
					HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
					HeaderKeys: keys})
				if err != nil {
					b.Fatal(err)
				}
				if _, err := s.Write(raw); err != nil {
					b.Fatal(err)
				}
				if err := s.Close(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	b.Run("bodyhash", func(b *testing.B) {
		b.SetBytes(int64(len(raw)))
		for b.Loop() {
			bodyHash(raw)
		}
	})
}

// BenchmarkSHA256Digest is the floor under bodyHash: hashing the copy as it is.
func BenchmarkSHA256Digest(b *testing.B) {
	raw := digestSized(b)
	b.SetBytes(int64(len(raw)))
	for b.Loop() {
		sha256.Sum256(raw)
	}
}
