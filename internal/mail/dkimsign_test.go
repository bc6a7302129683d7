package mail

import (
	"bytes"
	"crypto"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
	"golang.org/x/text/unicode/norm"
)

// sigTags returns the tags of the first DKIM-Signature of signed, unfolded,
// with the white space inside values removed.
func sigTags(t *testing.T, signed []byte) map[string]string {
	t.Helper()
	header := string(signed[:bytes.Index(signed, []byte("\r\n\r\n"))+2])
	_, field, ok := strings.Cut(header, "DKIM-Signature:")
	if !ok {
		t.Fatalf("no DKIM-Signature in\n%s", header)
	}
	// The field ends at the first line break not followed by white space.
	end := 0
	for {
		i := strings.Index(field[end:], "\r\n")
		end += i + 2
		if end >= len(field) || (field[end] != ' ' && field[end] != '\t') {
			break
		}
	}
	field = strings.NewReplacer("\r\n", "", " ", "", "\t", "").Replace(field[:end])
	tags := map[string]string{}
	for kv := range strings.SplitSeq(field, ";") {
		if k, v, ok := strings.Cut(kv, "="); ok {
			tags[k] = v
		}
	}
	return tags
}

// msgauthSign signs raw with go-msgauth's signer, as bantin did before it
// had its own: the reference for bh= and the other tags.
func msgauthSign(t *testing.T, d *DKIM, raw []byte) []byte {
	t.Helper()
	s, err := dkim.NewSigner(&dkim.SignOptions{Domain: d.Domain, Selector: d.Selector, Signer: d.Signer, Hash: crypto.SHA256,
		HeaderCanonicalization: dkim.CanonicalizationRelaxed, BodyCanonicalization: dkim.CanonicalizationRelaxed,
		HeaderKeys: append(signedHeaders(raw), "From")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Write(raw); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return []byte(s.Signature())
}

// checkSignedCopy signs raw, checks that go-msgauth verifies it, that its
// tags are go-msgauth's own for the same bytes (bh= exactly; b= and t=
// aside), and that a change of one byte of the body, or of a signed header,
// breaks it.
func checkSignedCopy(t *testing.T, d *DKIM, txt string, raw []byte) {
	t.Helper()
	checkSigned(t, d, txt, Message{Raw: raw})
}

// checkSigned is checkSignedCopy for a Raw message, signed as it says
// (as canonical when RawCanonical).
func checkSigned(t *testing.T, d *DKIM, txt string, m Message) {
	t.Helper()
	raw := m.Raw
	signed, err := d.signRaw(m)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(signed, raw) {
		t.Fatal("the signed copy is not the copy with a field in front")
	}
	if m.headroom != nil && &signed[len(signed)-len(raw)] != &raw[0] {
		t.Error("a Bulk copy's signature did not go in the room in front of it: the copy was copied")
	}
	for i, line := range strings.Split(string(signed[:len(signed)-len(raw)]), "\r\n") {
		if len(line) > 78 {
			t.Errorf("DKIM-Signature line %d is %d bytes long: %q", i, len(line), line)
		}
	}
	verifs := verify(t, signed, txt)
	if len(verifs) != 1 || verifs[0].Err != nil {
		t.Fatalf("signature does not verify: %+v\n%s", verifs, signed)
	}
	got, want := sigTags(t, signed), sigTags(t, append(msgauthSign(t, d, raw), raw...))
	if got["bh"] != want["bh"] {
		t.Errorf("bh=%s, go-msgauth computes %s", got["bh"], want["bh"])
	}
	for k, v := range want {
		if k != "b" && k != "t" && got[k] != v {
			t.Errorf("%s=%q, go-msgauth writes %q", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("tags %v, go-msgauth writes %v", got, want)
	}

	bodyAt := len(signed) - len(raw) + bytes.Index(raw, []byte("\r\n\r\n")) + 4
	edits := map[string]int{"a To byte": len(signed) - len(raw) + bytes.Index(raw, []byte("\r\nTo: ")) + 6}
	if last := bytes.LastIndexFunc(signed[bodyAt:], func(r rune) bool { return r != '\r' && r != '\n' }); last >= 0 {
		edits["a body byte"] = bodyAt + last/2
		edits["the last one"] = bodyAt + last
	}
	for name, at := range edits {
		changed := bytes.Clone(signed)
		if changed[at] == 'Q' {
			changed[at] = 'R'
		} else {
			changed[at] = 'Q'
		}
		if v := verify(t, changed, txt); len(v) != 1 || v[0].Err == nil {
			t.Errorf("%s changed (%q at %d), the signature still verifies", name, signed[at], at)
		}
	}
}

// TestDKIMBulkCopies: copies made by Bulk, signed, verify and carry
// go-msgauth's body hash, for each kind of line a digest has.
func TestDKIMBulkCopies(t *testing.T) {
	long := strings.Repeat("Bài viết dài không ngắt dòng, có khoảng trắng  đôi và\ttab ", 30) // > 998 bytes encoded
	cleanLong := strings.Repeat("Bài viết dài không ngắt dòng, một khoảng trắng mỗi chỗ", 30)
	variants := []struct {
		name    string
		text    string
		html    string
		headers map[string]string
		values  []string // ZZNAME, ZZLINK
		// canonical: Bulk must find the copies canonical as they are
		// (signed without canonicalizing); the others may go either way.
		canonical bool
	}{
		{"a name in a URL", "Xin chào ZZNAME,\nhttps://example.vn/chao?ten=ZZNAME&x=1\n", "<p><a href=\"https://example.vn/chao?ten=ZZNAME\">ZZNAME</a></p>\n",
			map[string]string{"List-Unsubscribe": "<https://example.vn/unsubscribe/ZZLINK>"}, []string{"Lan", "abc123"}, true},
		{"a Vietnamese name", "Xin chào ZZNAME,\nBản tin sáng.\n", "<p>Xin chào <b>ZZNAME</b>,</p>\n",
			map[string]string{"List-Unsubscribe": "<ZZLINK>"}, []string{norm.NFD.String("Nguyễn Thị Ngọc Nữ"), "https://example.vn/unsubscribe/x"}, true},
		{"a name with two spaces", "Xin chào ZZNAME,\nBản tin sáng.\n", "<p>Xin chào <b>ZZNAME</b>,</p>\n",
			map[string]string{"List-Unsubscribe": "<ZZLINK>"}, []string{"Lan  Anh", "https://example.vn/unsubscribe/x"}, false},
		{"long lines", long + "\nXin chào ZZNAME " + long + "\n", "<p>" + long + "</p>\n<p>ZZNAME  \t" + long + "</p>\n",
			map[string]string{"List-Unsubscribe": "<ZZLINK>"}, []string{strings.Repeat("Hà ", 40), "https://example.vn/u/" + strings.Repeat("z", 300)}, false},
		{"long clean lines", cleanLong + "\nXin chào ZZNAME " + cleanLong + "\n", "<p>" + cleanLong + "</p>\n<p>ZZNAME " + cleanLong + "</p>\n",
			map[string]string{"List-Unsubscribe": "<ZZLINK>"}, []string{strings.Repeat("Hà", 40), "https://example.vn/u/" + strings.Repeat("z", 300)}, true},
		{"white space and empty lines at the end, text only", "Xin chào ZZNAME   \n\ttab đầu dòng\t\nhai  khoảng\n  \n\n\t\n\n",
			"", map[string]string{"List-Unsubscribe": "<ZZLINK>"}, []string{"Lan  Anh ", "https://example.vn/u/1"}, false},
		{"empty lines at the end, text only", "Xin chào ZZNAME\nBản tin\n\n\n", "", map[string]string{"List-Unsubscribe": "<ZZLINK>"},
			[]string{"Hùng", "https://example.vn/u/2"}, false},
		{"the name on the last line", "Bản tin\n\n\nZZNAME", "", map[string]string{"List-Unsubscribe": "<ZZLINK>"}, []string{"Hùng", "https://example.vn/u/2"}, false},
	}
	date := time.Date(2024, 3, 28, 0, 30, 0, 0, time.UTC)
	for _, k := range testKeys(t) {
		d := &DKIM{Domain: "example.vn", Selector: "sel", Signer: k.signer}
		for _, v := range variants {
			t.Run(k.name+"/"+v.name, func(t *testing.T) {
				b, err := NewBulk(BulkMessage{From: mail.Address{Name: "Báo Mẫu", Address: "news@example.vn"}, Subject: "Bản tin sáng",
					Text: v.text, HTML: v.html, Headers: v.headers}, []string{"ZZNAME", "ZZLINK"}, nil)
				if err != nil {
					t.Fatal(err)
				}
				for i, name := range []string{v.values[0], ""} {
					m, err := b.CopyMessage(mail.Address{Name: name, Address: "doc-gia@example.vn"}, "", date.Add(time.Duration(i)*time.Second),
						[]string{name, v.values[1]}, []string{name, v.values[1]})
					if err != nil {
						t.Fatal(err)
					}
					if i == 0 && v.canonical && !m.RawCanonical {
						t.Errorf("copy to %q not found canonical: signed the slow way", name)
					}
					checkSigned(t, d, k.txt, m)
				}
			})
		}
		// An article re-rendered while the issue goes out: the copies
		// made before and after the change each verify as they are.
		t.Run(k.name+"/edited mid-send", func(t *testing.T) {
			var copies [][]byte
			for _, text := range []string{"Xin chào ZZNAME,\nBài một: bản cũ.\n", "Xin chào ZZNAME,\nBài một: bản  mới,\tsửa lại.\n\n"} {
				b, err := NewBulk(BulkMessage{From: mail.Address{Address: "news@example.vn"}, Subject: "Bản tin",
					Text: text, HTML: "<p>" + text + "</p>", Headers: map[string]string{"List-Unsubscribe": "<ZZLINK>"}},
					[]string{"ZZNAME", "ZZLINK"}, nil)
				if err != nil {
					t.Fatal(err)
				}
				for _, name := range []string{"An", "Bình"} {
					m, err := b.CopyMessage(mail.Address{Name: name, Address: "a@example.vn"}, "", date, []string{name, "https://example.vn/u"},
						[]string{name, "https://example.vn/u"})
					if err != nil {
						t.Fatal(err)
					}
					copies = append(copies, m.Raw)
					checkSigned(t, d, k.txt, m)
				}
			}
			if bytes.Equal(copies[0], copies[2]) {
				t.Fatal("the edit changed nothing")
			}
		})
	}
}

// TestDKIMBodyHash: relaxed body canonicalization agrees with go-msgauth's
// on bodies that are not quoted-printable: white space of every kind, empty
// lines, bare LFs, no line break at the end, no body at all.
func TestDKIMBodyHash(t *testing.T) {
	bodies := map[string]string{
		"empty":                    "",
		"only empty lines":         "\r\n\r\n\r\n",
		"only white space":         "  \r\n\t\r\n \t ",
		"no final line break":      "abc  def\t",
		"trailing white space":     "abc \r\ndef\t\r\nghi \t \r\n",
		"runs of white space":      "a  b\t\tc \t d\r\n  lead\r\n\tlead\r\n",
		"empty lines inside":       "a\r\n\r\n  \r\n\r\nb\r\n",
		"empty lines at the end":   "a\r\n\r\n \r\n\t\r\n\r\n",
		"long clean lines":         strings.Repeat(strings.Repeat("chữ ", 40)+"\r\n", 20),
		"two spaces at a word end": strings.Repeat("x", 7) + "  y\r\n" + strings.Repeat("x", 15) + " \r\n",
	}
	key := testKeys(t)[1]
	d := &DKIM{Domain: "example.vn", Selector: "sel", Signer: key.signer}
	for name, body := range bodies {
		t.Run(name, func(t *testing.T) {
			raw := []byte("From: a@example.vn\r\nTo:  b@example.vn \r\nSubject: x\r\n\r\n" + body)
			checkSignedCopy(t, d, key.txt, raw)
		})
	}
}

// TestDKIMSignMakesBareLineBreaksCRLF: a bare LF or CR is sent as CRLF,
// and the signature covers the message as sent.
func TestDKIMSignMakesBareLineBreaksCRLF(t *testing.T) {
	key := testKeys(t)[1]
	d := &DKIM{Domain: "example.vn", Selector: "sel", Signer: key.signer}
	raw := []byte("From: a@example.vn\nSubject: x\r\n\r\na\nb  c\n\nd\r\ne\rf\r")
	signed, err := d.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	want := "From: a@example.vn\r\nSubject: x\r\n\r\na\r\nb  c\r\n\r\nd\r\ne\r\nf\r\n"
	if !bytes.HasSuffix(signed, []byte(want)) || !bytes.HasPrefix(signed, []byte("DKIM-Signature:")) {
		t.Fatalf("signed message\n%q\ndoes not end with\n%q", signed, want)
	}
	checkSignedCopy(t, d, key.txt, []byte(want))
}

// FuzzDKIMBodyHash holds bantin's relaxed body canonicalization to
// go-msgauth's on any body: bh= must be the same bytes, for the message as
// sent (bare CRs and LFs made CRLF), and the signature must verify.
//
//	go test ./internal/mail/ -run '^$' -fuzz FuzzDKIMBodyHash -fuzztime 60s
func FuzzDKIMBodyHash(f *testing.F) {
	for _, s := range []string{"", "\r\n", "a  b\t\r\n\r\n \r\n", "a\nb \n\n", "x \t", "=C3=A0  \r\n\t\r\n", "a\r\r\nb\r"} {
		f.Add([]byte(s))
	}
	key := testKeys(f)[1]
	d := &DKIM{Domain: "example.vn", Selector: "sel", Signer: key.signer}
	f.Fuzz(func(t *testing.T, body []byte) {
		// Sign looks for bare line breaks while hashing, not by passes of
		// their own: it must see each.
		if _, bare := hashBody(body); bare != bareBreak(body) {
			t.Errorf("body %q: hashBody says bare %v, the count says %v", body, bare, bareBreak(body))
		}
		raw := append([]byte("From: a@example.vn\r\nSubject: x\r\n\r\n"), body...)
		signed, err := d.Sign(raw)
		if err != nil {
			t.Fatal(err)
		}
		sent := signed[bytes.Index(signed, []byte("\r\nFrom: "))+2:]
		if bytes.Count(sent, []byte("\r")) != bytes.Count(sent, []byte("\r\n")) || bytes.Count(sent, []byte("\n")) != bytes.Count(sent, []byte("\r\n")) {
			t.Fatalf("body %q: the signed message keeps a bare CR or LF: %q", body, sent)
		}
		if v := verify(t, signed, key.txt); len(v) != 1 || v[0].Err != nil {
			t.Fatalf("body %q: signature does not verify: %+v", body, v)
		}
		got, want := sigTags(t, signed), sigTags(t, append(msgauthSign(t, d, sent), sent...))
		if got["bh"] != want["bh"] {
			t.Errorf("body %q: bh=%s, go-msgauth computes %s", body, got["bh"], want["bh"])
		}
	})
}

// TestDKIMSignatureRoom: a Bulk copy's signatures go in the room in front
// of it when they fit, and the copy is signed as well when they do not
// (keys enough to pass the room) or when it is signed a second time (a
// send that failed after the signing).
func TestDKIMSignatureRoom(t *testing.T) {
	keys := testKeys(t)
	d := &DKIM{Domain: "example.vn", Selector: "sel", Signer: keys[0].signer}
	b, err := NewBulk(BulkMessage{From: mail.Address{Address: "news@example.vn"}, Subject: "Bản tin",
		Text: "Xin chào ZZNAME,\nBản tin sáng.\n", HTML: "<p>Xin chào ZZNAME,</p>\n"}, []string{"ZZNAME"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, err := b.CopyMessage(mail.Address{Name: "Lan", Address: "lan@example.vn"}, "", time.Now(), []string{"Lan"}, []string{"Lan"})
	if err != nil {
		t.Fatal(err)
	}
	raw := bytes.Clone(m.Raw)
	checkSigned(t, d, keys[0].txt, m) // in the room
	checkSigned(t, d, keys[0].txt, m) // the same room again
	if !bytes.Equal(m.Raw, raw) {
		t.Fatal("signing changed the copy itself")
	}

	// Five RSA-2048 signatures take some 3 KB: more than the room.
	crowded := &DKIM{Domain: "example.vn", Selector: "sel", Signer: keys[0].signer}
	for range 4 {
		crowded.Also = append(crowded.Also, DKIMKey{Selector: "sel", Signer: keys[0].signer})
	}
	signed, err := crowded.signRaw(m)
	if err != nil {
		t.Fatal(err)
	}
	if len(signed)-len(m.Raw) <= signatureRoom {
		t.Fatalf("the signatures take %d bytes, no more than the room's %d: the case is not tested", len(signed)-len(m.Raw), signatureRoom)
	}
	if !bytes.HasSuffix(signed, raw) || &signed[len(signed)-len(raw)] == &m.Raw[0] {
		t.Fatal("signatures too large for the room were not put in a new buffer before the copy")
	}
	verifs := verify(t, signed, keys[0].txt)
	if len(verifs) != 5 {
		t.Fatalf("%d signatures verified, want 5", len(verifs))
	}
	for _, v := range verifs {
		if v.Err != nil {
			t.Fatalf("signature does not verify: %v", v.Err)
		}
	}
}
