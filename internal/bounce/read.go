package bounce

import (
	"mime"
	"net/mail"
	"regexp"
	"strings"
	"unicode/utf8"
)

// addrPattern is an email address as bounces print it (no quoted local
// parts, no IP literals: neither is a subscriber's address).
const addrPattern = `[A-Za-z0-9.!#$%&'*+/=?^_{|}~\-\x{80}-\x{10FFFF}]+@[A-Za-z0-9\-\x{80}-\x{10FFFF}]+(?:\.[A-Za-z0-9\-\x{80}-\x{10FFFF}]+)+`

var (
	anyAddr = regexp.MustCompile(addrPattern)
	// addrLine is a line that starts with an address, as in the lists of
	// failed addresses of Exim, Sendmail, Exchange and Gmail.
	addrLine = regexp.MustCompile(`^<?(` + addrPattern + `)>?(?:[:,;]|\s|$)(.*)$`)
	// angleLine is "<addr>:" starting a paragraph (qmail, Postfix, Yahoo).
	angleLine = regexp.MustCompile(`^<(` + addrPattern + `)>:?(.*)$`)
	// tokenChars are those of a URL-safe token.
	tokenChars = regexp.MustCompile(`^[A-Za-z0-9._~=-]+$`)
)

// cleanAddress is the address in s (an RFC 3464 "rfc822; addr", "<addr>",
// "addr") with its domain lower-cased, or "" when s holds none.
func cleanAddress(s string) string {
	s = strings.TrimSpace(s)
	if typ, rest, ok := strings.Cut(s, ";"); ok && !strings.Contains(typ, "@") {
		s = strings.TrimSpace(rest)
	}
	s = strings.TrimSpace(strings.Trim(s, "<>\"' \t"))
	s = strings.TrimRight(s, ".:,;>")
	if s == "" || len(s) > 254 || !utf8.ValidString(s) || anyAddr.FindString(s) != s {
		return ""
	}
	at := strings.LastIndexByte(s, '@')
	return s[:at] + "@" + strings.ToLower(s[at+1:])
}

// fromDSN reads the message/delivery-status parts (RFC 3464: one block
// per recipient, with Final-Recipient, Action, Status, Diagnostic-Code).
// It reports false when they hold no recipient block at all.
func (o Options) fromDSN(rep *Report, w *walker) bool {
	found := false
	var failed int
	for _, b := range w.dsn {
		action := strings.ToLower(strings.TrimSpace(b.get("Action")))
		if b.get("Final-Recipient") == "" && b.get("Original-Recipient") == "" && action == "" && b.get("Status") == "" {
			continue // the per-message block (Reporting-MTA, Arrival-Date)
		}
		found = true
		switch action {
		case "delivered", "relayed", "expanded":
			continue
		}
		fallback := Hard // "failed": the MTA gave up
		if action == "delayed" {
			fallback = Soft
		}
		diag := b.get("Diagnostic-Code")
		if _, rest, ok := strings.Cut(diag, ";"); ok {
			diag = rest // drop the "smtp;" type
		}
		kind, status := classify(b.get("Status"), diag, fallback)
		if kind == "" {
			continue
		}
		if action == "delayed" {
			kind = Soft // still being tried, whatever the code
		}
		failed++
		reason := oneLine(diag, MaxReason)
		addr := cleanAddress(b.get("Original-Recipient"))
		if addr == "" {
			addr = cleanAddress(b.get("Final-Recipient"))
		}
		if addr == "" {
			if rep.Status == "" {
				rep.Status, rep.Reason = status, reason
				rep.Kind = kind
			}
			continue
		}
		if len(rep.Recipients) < maxRecipients && !hasAddress(rep.Recipients, addr) {
			rep.Recipients = append(rep.Recipients, Recipient{Address: addr, Kind: kind, Status: status, Reason: reason})
		}
	}
	if !found {
		return false
	}
	rep.Format = "rfc3464"
	if failed == 0 {
		rep.Kind = NotBounce // a success notice
		return true
	}
	if len(rep.Recipients) == 0 {
		// The blocks named nobody; an MTA's X-Failed-Recipients may.
		for _, a := range headerAddresses(w.topFailed) {
			rep.Recipients = append(rep.Recipients, Recipient{Address: a, Kind: rep.Kind, Status: rep.Status, Reason: rep.Reason})
		}
	}
	if rep.Kind == "" {
		rep.Kind = Hard
	}
	rep.Kind = overall(rep.Recipients, rep.Kind)
	return true
}

func runeLen(s string) int { return utf8.RuneCountInString(s) }

func hasAddress(rs []Recipient, addr string) bool {
	for _, r := range rs {
		if strings.EqualFold(r.Address, addr) {
			return true
		}
	}
	return false
}

// headerAddresses are the addresses of a comma-separated header such as
// X-Failed-Recipients.
func headerAddresses(v string) []string {
	var out []string
	for _, s := range anyAddr.FindAllString(v, maxRecipients) {
		if a := cleanAddress(s); a != "" && !containsString(out, a) {
			out = append(out, a)
		}
	}
	return out
}

func containsString(list []string, s string) bool {
	for _, v := range list {
		if strings.EqualFold(v, s) {
			return true
		}
	}
	return false
}

// A textFormat is an MTA's own bounce text: how to know it, and where its
// list of failed addresses starts.
type textFormat struct {
	name string
	// sign is a phrase (lower case) only this format's notices carry.
	sign string
	// marker is the phrase (lower case) on the line before the list; ""
	// reads "<addr>:" paragraphs anywhere instead.
	marker string
	// kind is what its addresses are when their text says nothing more.
	kind Kind
}

// textFormats are tried in order; the first whose sign is in the text and
// that finds an address wins.
var textFormats = []textFormat{
	{"qmail", "hi. this is the qmail-send program", "", Hard},
	{"qmail", "hi. this is the", "", Hard},
	{"exim", "address to which the message has not yet been delivered", "has not yet been delivered is:", Soft},
	{"exim", "addresses to which the message has not yet been delivered", "has not yet been delivered are:", Soft},
	{"exim", "could not be delivered to one or more of its", "failed:", Hard},
	{"sendmail", "the following addresses had permanent fatal errors", "the following addresses had permanent fatal errors", Hard},
	{"sendmail", "the following addresses had transient non-fatal errors", "the following addresses had transient non-fatal errors", Soft},
	{"exchange", "delivery has failed to these recipients or groups", "delivery has failed to these recipients or groups", Hard},
	{"exchange", "could not be reached:", "could not be reached:", Hard},
	{"gmail", "delivery to the following recipient failed permanently", "failed permanently", Hard},
	{"gmail", "delivery to the following recipients failed permanently", "failed permanently", Hard},
	{"gmail", "delivery to the following recipient has been delayed", "has been delayed", Soft},
	{"yahoo", "unable to deliver your message to the following address", "", Hard},
	{"postfix", "this is a warning only", "", Soft},
	{"postfix", "this is the mail system at host", "", Hard},
	{"text", "", "", ""}, // hard when the notice says permanent, else soft
}

// fromText reads a bounce that has no delivery-status part (or one that
// names nobody) from its text, then from X-Failed-Recipients, and last
// from whatever code its text gives. It always reports a bounce: the
// message was already known to be one.
func (o Options) fromText(rep *Report, h mail.Header, w *walker) bool {
	var parts []string
	for _, t := range w.texts {
		before, _, _ := cutAtCopy(t)
		parts = append(parts, strings.ReplaceAll(before, "\r\n", "\n"))
	}
	text := strings.Join(parts, "\n\n")
	lower := strings.ToLower(text)
	fallback := Soft // a notice that says too little is not a reason to drop anyone
	if strings.Contains(lower, "permanent") {
		fallback = Hard
	}
	if strings.Contains(lower, "not yet been delivered") || strings.Contains(lower, "will be retried") || strings.Contains(lower, "delayed") {
		fallback = Soft
	}
	for _, f := range textFormats {
		if f.sign != "" && !strings.Contains(lower, f.sign) {
			continue
		}
		kind := f.kind
		if kind == "" {
			kind = fallback
		}
		var rs []Recipient
		if f.marker == "" {
			rs = angleParagraphs(text, kind)
		} else {
			rs = listAfter(text, f.marker, kind)
		}
		if len(rs) > 0 {
			rep.Format, rep.Recipients = f.name, rs
			rep.Kind = overall(rs, kind)
			return true
		}
	}
	// No list: the words of the notice, and the addresses of the
	// X-Failed-Recipients header (Exim, Gmail) or none.
	line := codeLine(text)
	if line == "" {
		line = decodeHeader(h.Get("Subject"))
	}
	kind, status := classify("", text, fallback)
	if kind == "" {
		kind = fallback
	}
	rep.Kind, rep.Status, rep.Reason, rep.Format = kind, status, oneLine(line, MaxReason), "text"
	if failed := headerAddresses(w.topFailed); len(failed) > 0 {
		rep.Format = "x-failed-recipients"
		for _, a := range failed {
			rep.Recipients = append(rep.Recipients, Recipient{Address: a, Kind: kind, Status: status, Reason: rep.Reason})
		}
		return true
	}
	if w.original != nil {
		// The notice names no one but returns the copy, which bantin
		// addressed to the subscriber alone.
		if list, err := mail.ParseAddressList(w.original.Get("To")); err == nil && len(list) == 1 {
			if a := cleanAddress(list[0].Address); a != "" {
				rep.Recipients = []Recipient{{Address: a, Kind: kind, Status: status, Reason: rep.Reason}}
			}
		}
	}
	return true
}

// codeLine is the first line of text that carries a status or reply code,
// the server's own words as a rule.
func codeLine(text string) string {
	for _, line := range strings.Split(text, "\n") {
		if statusCode(line) != "" || replyCode.MatchString(line) {
			return strings.TrimSpace(line)
		}
	}
	return ""
}

// recipientFromText makes a Recipient of an address and the text that
// explains it.
func recipientFromText(addr string, reason []string, kind Kind) Recipient {
	text := strings.Join(reason, " ")
	k, status := classify("", text, kind)
	if k == "" || kind == Soft {
		// A delay warning stays soft whatever code it quotes.
		k = kind
	}
	line := codeLine(strings.Join(reason, "\n"))
	if line == "" {
		line = text
	}
	if i := strings.Index(text, line); i > 0 && len(text)-i <= MaxReason*4 {
		line = text[i:] // from the code on, the server's words
	}
	if runeLen(line) < 40 && len(text) > len(line) {
		// A bare code ("<mx #5.1.1>", Exchange) says less than the
		// sentence before it.
		line = text
	}
	return Recipient{Address: addr, Kind: k, Status: status, Reason: oneLine(line, MaxReason)}
}

// recipientParagraphs collects recipients written as text: an address
// opens one, the lines after it explain it (at most 40 of them).
type recipientParagraphs struct {
	kind   Kind
	out    []Recipient
	addr   string
	reason []string
}

// open ends the recipient being read and starts one for addr.
func (p *recipientParagraphs) open(addr string) {
	p.close()
	p.addr = addr
}

// explain adds a line to the reason of the recipient being read.
func (p *recipientParagraphs) explain(line string) {
	if p.addr != "" && len(p.reason) < 40 {
		p.reason = append(p.reason, line)
	}
}

// close ends the recipient being read, keeping it when it is new and the
// list is not full.
func (p *recipientParagraphs) close() {
	if p.addr != "" && len(p.out) < maxRecipients && !hasAddress(p.out, p.addr) {
		p.out = append(p.out, recipientFromText(p.addr, p.reason, p.kind))
	}
	p.addr, p.reason = "", nil
}

// angleParagraphs reads "<addr>: explanation" paragraphs (QSBMF recipient
// paragraphs; Postfix and Yahoo write theirs the same way). A paragraph
// starting with "-" ends the list (QSBMF's break paragraph).
func angleParagraphs(text string, kind Kind) []Recipient {
	p := recipientParagraphs{kind: kind}
	start := true
	for _, line := range strings.Split(text, "\n") {
		t := strings.TrimSpace(line)
		if t == "" {
			p.close()
			start = true
			continue
		}
		if start && strings.HasPrefix(t, "-") {
			break
		}
		if start {
			if m := angleLine.FindStringSubmatch(t); m != nil {
				if a := cleanAddress(m[1]); a != "" {
					p.open(a)
					p.explain(m[2])
				}
				start = false
				continue
			}
		}
		start = false
		p.explain(t)
	}
	p.close()
	return p.out
}

// listAfter reads the list of addresses after the line holding marker:
// each line starting with an address opens a recipient, the lines after
// it (indented or not, up to the next address) explain it.
func listAfter(text, marker string, kind Kind) []Recipient {
	lines := strings.Split(text, "\n")
	i := 0
	for ; i < len(lines); i++ {
		if strings.Contains(strings.ToLower(lines[i]), marker) {
			break
		}
	}
	p := recipientParagraphs{kind: kind}
	for _, line := range lines[min(i+1, len(lines)):] {
		t := strings.TrimSpace(line)
		if t == "" {
			continue
		}
		if m := addrLine.FindStringSubmatch(t); m != nil {
			if a := cleanAddress(m[1]); a != "" && !strings.EqualFold(a, p.addr) {
				p.open(a)
				if rest := strings.TrimSpace(m[2]); rest != "" && !strings.HasPrefix(rest, "on ") && !strings.HasPrefix(rest, "(") {
					p.explain(rest)
				}
				continue
			}
		}
		if p.addr == "" {
			if len(p.out) == 0 {
				continue // text between the marker and the first address
			}
			break
		}
		p.explain(strings.TrimPrefix(strings.TrimSuffix(t, ")"), "(reason: "))
	}
	p.close()
	return p.out
}

// looksLikeBounce says whether a message with no delivery-status part is
// a delivery notice: a report, an X-Failed-Recipients header, a notice
// from the mailer daemon or postmaster, a QSBMF body, or a bounce subject
// on a message sent automatically.
func looksLikeBounce(h mail.Header, w *walker) bool {
	if mt, params, err := mime.ParseMediaType(h.Get("Content-Type")); err == nil && mt == "multipart/report" &&
		strings.EqualFold(params["report-type"], "delivery-status") {
		return true
	}
	if w.topFailed != "" {
		return true
	}
	from := strings.ToLower(decodeHeader(h.Get("From")))
	for _, s := range []string{"mailer-daemon", "mail-daemon", "postmaster@", "<postmaster", "mail delivery", "mailer daemon"} {
		if strings.Contains(from, s) {
			return true
		}
	}
	for _, t := range w.texts {
		if strings.HasPrefix(strings.TrimSpace(t), "Hi. This is the qmail") {
			return true
		}
	}
	subject := strings.ToLower(decodeHeader(h.Get("Subject")))
	automatic := strings.TrimSpace(h.Get("Return-Path")) == "<>" || autoSubmitted(h)
	if automatic {
		for _, s := range []string{"undeliver", "undelivered", "delivery status notification", "delivery failure",
			"delivery failed", "mail delivery", "failure notice", "returned mail", "could not be delivered",
			"delivery has failed", "not delivered", "nondeliverable", "returned to sender", "delivery notification",
			"non remis", "nicht zustellbar", "không gửi được", "không thể gửi", "delayed mail", "delivery delayed"} {
			if strings.Contains(subject, s) {
				return true
			}
		}
	}
	return false
}

// autoSubmitted is the RFC 3834 Auto-Submitted header with any value but
// "no".
func autoSubmitted(h mail.Header) bool {
	v := strings.ToLower(strings.TrimSpace(h.Get("Auto-Submitted")))
	v, _, _ = strings.Cut(v, ";")
	return v != "" && strings.TrimSpace(v) != "no"
}

// autoReplySubjects start or hold the subjects of vacation messages, in
// the languages bantin's readers write.
var autoReplySubjects = []string{"out of office", "out of the office", "automatic reply", "auto reply", "autoreply",
	"auto-reply", "auto:", "autosvar", "tự động trả lời", "trả lời tự động", "vắng mặt", "on vacation",
	"vacation reply", "away from", "abwesenheit", "réponse automatique", "respuesta automática"}

// isAutoReply says whether a message is an automatic answer (RFC 3834
// Auto-Submitted, the headers vacation programs add, or a vacation
// subject).
func isAutoReply(h mail.Header) bool {
	if autoSubmitted(h) {
		return true
	}
	for _, k := range []string{"X-Autoreply", "X-Autorespond", "X-Autoresponder", "X-Autogenerated"} {
		if v := strings.ToLower(strings.TrimSpace(h.Get(k))); v != "" && v != "no" {
			return true
		}
	}
	if p := strings.ToLower(strings.TrimSpace(h.Get("Precedence"))); p == "auto_reply" || p == "auto-reply" {
		return true
	}
	subject := strings.ToLower(decodeHeader(h.Get("Subject")))
	return containsAny(subject, autoReplySubjects)
}

// findToken is the VERP token of the return path the message names:
// ARF's Original-Mail-From, then where the bounce was delivered to
// (Delivered-To, X-Original-To, Envelope-To, To), then the returned
// message's Return-Path.
func (o Options) findToken(h mail.Header, w *walker) string {
	var candidates []string
	if w.feedback != nil {
		candidates = append(candidates, w.feedback.get("Original-Mail-From"))
	}
	for _, k := range []string{"Delivered-To", "X-Original-To", "Envelope-To", "X-Envelope-To", "To"} {
		candidates = append(candidates, h[k]...)
	}
	if w.original != nil {
		candidates = append(candidates, w.original["Return-Path"]...)
	}
	for _, c := range candidates {
		for _, a := range anyAddr.FindAllString(c, 20) {
			if tok := verpToken(a, o.ReturnPrefix); tok != "" {
				return tok
			}
		}
	}
	return ""
}
