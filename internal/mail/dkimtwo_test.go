package mail

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-msgauth/dkim"
)

// TestDKIMSignsWithEveryKey: a DKIM with an extra key puts one signature
// of each key on the message (RSA and Ed25519, RFC 8463 §5), each verified
// on its own against its own selector's record, both with the same body
// hash; a changed body breaks both.
func TestDKIMSignsWithEveryKey(t *testing.T) {
	keys := testKeys(t)
	rsaKey, edKey := keys[0], keys[1]
	d := &DKIM{Domain: "example.vn", Selector: "rsa1", Signer: rsaKey.signer,
		Also: []DKIMKey{{Selector: "ed1", Signer: edKey.signer}}}
	raw, err := Render(vietnamese("a@example.com"), time.UTC)
	if err != nil {
		t.Fatal(err)
	}
	signed, err := d.Sign(raw)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasSuffix(signed, raw) {
		t.Fatal("the signed message is not signatures followed by the original")
	}
	records := map[string]string{"rsa1._domainkey.example.vn": rsaKey.txt, "ed1._domainkey.example.vn": edKey.txt}
	verifyAll := func(msg []byte) []*dkim.Verification {
		t.Helper()
		verifs, err := dkim.VerifyWithOptions(bytes.NewReader(msg), &dkim.VerifyOptions{LookupTXT: func(name string) ([]string, error) {
			if txt, ok := records[name]; ok {
				return []string{txt}, nil
			}
			t.Errorf("DKIM lookup of %q", name)
			return nil, os.ErrNotExist
		}})
		if err != nil {
			t.Fatalf("dkim.Verify: %v", err)
		}
		return verifs
	}
	verifs := verifyAll(signed)
	if len(verifs) != 2 {
		t.Fatalf("%d signatures, want 2 (one per key)", len(verifs))
	}
	header := string(signed[:bytes.Index(signed, []byte("\r\n\r\n"))])
	unfolded := strings.NewReplacer("\r\n ", "", "\r\n\t", "", " ", "").Replace(header)
	sigs := strings.Split(unfolded, "DKIM-Signature:")[1:]
	if len(sigs) != 2 {
		t.Fatalf("%d DKIM-Signature fields, want 2:\n%s", len(sigs), header)
	}
	for i, want := range []struct{ s, a string }{{"rsa1", "rsa-sha256"}, {"ed1", "ed25519-sha256"}} {
		sig := "DKIM-Signature:" + sigs[i]
		if got := tagValue(sig, "s"); got != want.s {
			t.Errorf("signature %d: s=%s, want %s", i, got, want.s)
		}
		if got := tagValue(sig, "a"); got != want.a {
			t.Errorf("signature %d: a=%s, want %s", i, got, want.a)
		}
	}
	if bh0, bh1 := tagValue("DKIM-Signature:"+sigs[0], "bh"), tagValue("DKIM-Signature:"+sigs[1], "bh"); bh0 != bh1 || bh0 == "" {
		t.Errorf("body hashes %q and %q, want one", bh0, bh1)
	}
	for _, v := range verifs {
		if v.Err != nil {
			t.Errorf("the signature of %s does not verify: %v", v.Domain, v.Err)
		}
	}

	broken := bytes.Replace(signed, []byte("\r\n\r\n"), []byte("\r\n\r\nX"), 1)
	for _, v := range verifyAll(broken) {
		if v.Err == nil {
			t.Error("a signature still verifies after the body changed")
		}
	}
}

func TestLoadDKIMKeyNamesItsPlace(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ selector, file, want string }{
		{"", bad, "mail.dkim.extra_keys[1].selector: empty"},
		{"ed1", "", "mail.dkim.extra_keys[1].key_file: empty"},
		{"ed1", filepath.Join(dir, "none.pem"), "mail.dkim.extra_keys[1].key_file: cannot read"},
		{"ed1", bad, "mail.dkim.extra_keys[1].key_file " + bad + ": not a PEM file"},
	} {
		_, err := LoadDKIMKey("mail.dkim.extra_keys[1]", "example.vn", tc.selector, tc.file)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("selector %q, file %q: %v, want it to start %q", tc.selector, tc.file, err, tc.want)
		}
	}
}
