package mail

import (
	"errors"
	"strings"
	"testing"
)

// TestCleanAddressHostnames: the domain is a host name after IDNA (LDH
// labels of 1 to 63 octets, no hyphen at an end, two labels at least),
// stored as lower-case A-labels; the local part keeps its case and must
// be ASCII.
func TestCleanAddressHostnames(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"a@example.com", "a@example.com"},
		{"  Nu.Ngoc+tin@Example.VN ", "Nu.Ngoc+tin@example.vn"},
		{"a@Bücher.Example", "a@xn--bcher-kva.example"},
		{"a@bücher.de", "a@xn--bcher-kva.de"},
		{"a@xn--bcher-kva.de", "a@xn--bcher-kva.de"},
		{"tin@báomẫu.vn", "tin@xn--bomu-5na2786b.vn"},
		{"a@ex-ample.co.uk", "a@ex-ample.co.uk"},
		{"a@" + strings.Repeat("x", 63) + ".vn", "a@" + strings.Repeat("x", 63) + ".vn"},
	} {
		got, err := CleanAddress(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("CleanAddress(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{
		"a@-example.com", "a@example-.com", "a@exa_mple.com", "a@example", "a@.example.com", "a@example..com",
		"a@example.com.", "a@[127.0.0.1]", "a@1.2.3.4", "a@" + strings.Repeat("x", 64) + ".vn",
		"a@exa mple.com", "@example.com", "a@", "a", ".a@example.com", "a..b@example.com", "a\"b@example.com",
		strings.Repeat("a", 65) + "@example.com", "a@ex!ample.com",
	} {
		if got, err := CleanAddress(in); err == nil || !errors.Is(err, ErrAddress) {
			t.Errorf("CleanAddress(%q) = %q, %v; want ErrAddress", in, got, err)
		}
	}
	for _, in := range []string{"ngọc@example.vn", "thư@báomẫu.vn"} {
		if _, err := CleanAddress(in); !errors.Is(err, ErrLocalPartNotASCII) {
			t.Errorf("CleanAddress(%q): %v, want ErrLocalPartNotASCII", in, err)
		}
	}
}

// TestDisplayAddressUnicode: a stored A-label domain reads as Unicode.
func TestDisplayAddressUnicode(t *testing.T) {
	for in, want := range map[string]string{
		"tin@xn--bomu-5na2786b.vn": "tin@báomẫu.vn",
		"a@example.com":            "a@example.com",
		"a@xn--zz.example":         "a@xn--zz.example",
	} {
		if got := DisplayAddress(in); got != want {
			t.Errorf("DisplayAddress(%q) = %q, want %q", in, got, want)
		}
	}
}
