package bounce

import (
	"regexp"
	"strings"
)

var (
	// enhancedCode is an RFC 3463 status code, not part of an IP address
	// or a version number: "5.1.1", "5.1.10", "#5.1.1".
	enhancedCode = regexp.MustCompile(`(?:^|[^\d.])([245]\.\d{1,3}\.\d{1,3})(?:[^\d.]|\.(?:\s|$)|$)`)
	// replyCode is an SMTP reply code at the start of a server's answer:
	// "550 ", "550-", "554:".
	replyCode = regexp.MustCompile(`(?:^|[\s:;(])([45][0-5]\d)(?:[ \t:-]|$)`)
)

// Phrases for when the codes do not decide, lower case.
var (
	// fullPhrases are a mailbox that cannot take mail now: soft even
	// under a 5.x.x code, as it is not the address that is wrong.
	fullPhrases = []string{"quota", "mailbox full", "mailbox is full", "full mailbox", "insufficient storage",
		"insufficient system storage", "storage allocation", "mailbox size limit", "too many messages"}
	// unknownPhrases say the address does not exist.
	unknownPhrases = []string{"user unknown", "unknown user", "no such user", "does not exist", "doesn't exist",
		"no mailbox", "mailbox not found", "mailbox unavailable", "invalid recipient", "recipient not found",
		"unknown recipient", "no such recipient", "recipient address rejected", "address rejected",
		"account has been disabled", "account is disabled", "couldn't be found", "could not be found",
		"unrouteable address", "couldn't find any host", "host not found", "no such domain", "domain not found",
		"doesn't have a", "invalid address", "address not found", "not our customer", "no longer active"}
	// tempPhrases are failures of the way to the mailbox (a host down for
	// days, a queue that expired), not of the address.
	tempPhrases = []string{"retry timeout exceeded", "timed out", "in the queue too long", "queue too long",
		"temporar", "try again later", "connection refused"}
	// policyPhrases are refusals about the sender or the message (spam
	// filters, block lists), which say nothing bad of the address.
	policyPhrases = []string{"spam", "blocked", "blacklist", "blocklist", "block list", "reputation", "policy",
		"rate limit", "too many connections", "try again later"}
)

func containsAny(s string, phrases []string) bool {
	for _, p := range phrases {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// statusCode is the enhanced status code in s, "" when there is none.
func statusCode(s string) string {
	if m := enhancedCode.FindStringSubmatch(s); m != nil {
		return m[1]
	}
	return ""
}

// classify says whether a failure is hard or soft from its status code,
// else the SMTP reply code in its text, else the text's words, else
// fallback. It returns "" for a status of class 2 (delivered), and the
// status code it went by.
//
// A 5.x.x status is hard, except mailbox full (5.2.2), message too large
// (5.2.3, 5.3.4) and refusals by policy (5.7.x, unless the text says the
// user is unknown): these are soft, since a good address gets them too,
// and a sender blocked for a day must not lose its list.
func classify(status, text string, fallback Kind) (Kind, string) {
	st := statusCode(status)
	if inText := statusCode(text); st == "" || (strings.HasSuffix(st, ".0.0") && inText != "" && inText[0] == st[0]) {
		// A generic x.0.0 in the Status field says less than the code
		// the server gave in its answer.
		if inText != "" {
			st = inText
		}
	}
	lower := strings.ToLower(text)
	if st != "" {
		switch st[0] {
		case '2':
			return "", st
		case '4':
			return Soft, st
		}
		subject, detail, _ := strings.Cut(st[2:], ".")
		switch {
		case containsAny(lower, fullPhrases):
			return Soft, st
		case subject == "2" && (detail == "2" || detail == "3"), subject == "3" && detail == "4":
			return Soft, st
		case subject == "7" && !containsAny(lower, unknownPhrases):
			return Soft, st
		}
		return Hard, st
	}
	if m := replyCode.FindStringSubmatch(text); m != nil {
		switch {
		case m[1][0] == '4', m[1] == "552", containsAny(lower, fullPhrases):
			return Soft, ""
		case containsAny(lower, policyPhrases) && !containsAny(lower, unknownPhrases):
			return Soft, ""
		}
		return Hard, ""
	}
	switch {
	case containsAny(lower, fullPhrases), containsAny(lower, tempPhrases):
		return Soft, ""
	case containsAny(lower, unknownPhrases):
		return Hard, ""
	}
	return fallback, ""
}
