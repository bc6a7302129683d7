package mail

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/idna"
)

// ErrAddress marks an email address bantin will not store or write to.
var ErrAddress = errors.New("not an email address")

// ErrLocalPartNotASCII marks an address whose part before the "@" is not
// ASCII ("thư@example.vn"). Such a mailbox can only be reached through a
// relay that announces SMTPUTF8 (RFC 6531), and whether the relay does is
// not known when a person signs up, so bantin refuses it rather than take
// an address it may never reach. It is also an ErrAddress.
var ErrLocalPartNotASCII = fmt.Errorf("%w: the part before @ is not ASCII", ErrAddress)

// Limits of RFC 5321 §4.5.3.1: a path of 256 octets holds an address of at
// most 254, a local part at most 64, a domain at most 253 (255 in the
// wire format).
const (
	maxAddress   = 254
	maxLocalPart = 64
	maxDomain    = 253
	maxLabel     = 63
)

// atext is what a dot-atom local part may hold besides letters and digits
// (RFC 5322 §3.2.3).
const atext = "!#$%&'*+-/=?^_`{|}~"

// CleanAddress checks one address as a person types it ("a@example.vn",
// no display name) and returns it the way bantin stores and sends it: the
// local part as typed (a mailbox may tell case apart), the domain in
// lower case and as IDNA A-labels ("ngọc@Bücher.Example" is refused,
// "a@Bücher.Example" becomes "a@xn--bcher-kva.example"). The domain must
// be a host name: at least two labels of letters, digits and inner
// hyphens, each 1 to 63 octets after IDNA, and a last label that is not
// all digits; "a@-example.com", "a@exa_mple.com" and "a@[127.0.0.1]" are
// refused. The error wraps ErrAddress (ErrLocalPartNotASCII for a local
// part that is not ASCII) and says why.
func CleanAddress(raw string) (string, error) {
	addr := strings.TrimSpace(raw)
	at := strings.LastIndexByte(addr, '@')
	if at <= 0 || at == len(addr)-1 {
		return "", fmt.Errorf("%w: %q needs a name, @ and a domain", ErrAddress, addr)
	}
	local, domain := addr[:at], addr[at+1:]
	if !isASCII(local) {
		return "", fmt.Errorf("%w: %q", ErrLocalPartNotASCII, addr)
	}
	if err := checkLocalPart(local); err != nil {
		return "", fmt.Errorf("%w: %q: %s", ErrAddress, addr, err)
	}
	ascii, err := ASCIIDomain(domain)
	if err != nil {
		return "", fmt.Errorf("%w: %q: %s", ErrAddress, addr, err)
	}
	addr = local + "@" + ascii
	if len(addr) > maxAddress {
		return "", fmt.Errorf("%w: %q is longer than %d octets", ErrAddress, addr, maxAddress)
	}
	return addr, nil
}

// checkLocalPart accepts a dot-atom of at most 64 octets: a quoted local
// part ("a b"@example.vn) is legal but nearly never real, and is refused.
func checkLocalPart(local string) error {
	if len(local) > maxLocalPart {
		return fmt.Errorf("the part before @ is longer than %d octets", maxLocalPart)
	}
	if local[0] == '.' || local[len(local)-1] == '.' || strings.Contains(local, "..") {
		return errors.New("the part before @ has a dot at an end or two in a row")
	}
	for i := 0; i < len(local); i++ {
		c := local[i]
		if c != '.' && !isLetterDigit(c) && strings.IndexByte(atext, c) < 0 {
			return fmt.Errorf("the part before @ holds %q", c)
		}
	}
	return nil
}

// ASCIIDomain returns a host name as lower-case IDNA A-labels (UTS #46
// lookup: "Bücher.Example" is "xn--bcher-kva.example"), refusing what is
// no host name: a label that is empty, longer than 63 octets, starts or
// ends with a hyphen or holds anything but letters, digits and hyphens; a
// single label; a last label of digits only; more than 253 octets.
func ASCIIDomain(domain string) (string, error) {
	if strings.HasPrefix(domain, "[") {
		return "", errors.New("an address literal ([...]) is no domain; give the domain's name")
	}
	ascii, err := idna.Lookup.ToASCII(domain)
	if err != nil {
		return "", fmt.Errorf("%q is not a domain name", domain)
	}
	ascii = strings.ToLower(ascii)
	if len(ascii) > maxDomain {
		return "", fmt.Errorf("the domain is longer than %d octets", maxDomain)
	}
	labels := strings.Split(ascii, ".")
	if len(labels) < 2 {
		return "", fmt.Errorf("%q is not a full domain name (example.vn)", domain)
	}
	for _, l := range labels {
		if l == "" || len(l) > maxLabel {
			return "", fmt.Errorf("%q has an empty label or one longer than %d octets", domain, maxLabel)
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return "", fmt.Errorf("%q has a label that starts or ends with a hyphen", domain)
		}
		for i := 0; i < len(l); i++ {
			if !isLetterDigit(l[i]) && l[i] != '-' {
				return "", fmt.Errorf("%q holds %q; a domain has letters, digits and hyphens", domain, l[i])
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return "", fmt.Errorf("%q ends in a number; give the domain's name", domain)
	}
	return ascii, nil
}

// DisplayAddress is addr for a person to read: its domain in Unicode
// ("a@bücher.example"). An address whose domain does not convert is
// returned as it is.
func DisplayAddress(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !strings.Contains(addr[at:], "xn--") {
		return addr
	}
	u, err := idna.Lookup.ToUnicode(addr[at+1:])
	if err != nil {
		return addr
	}
	return addr[:at+1] + u
}

func isLetterDigit(c byte) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9'
}
