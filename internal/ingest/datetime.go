package ingest

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// DateLineForms names the date lines ParseDateLine accepts, for error
// messages that tell the user what to write instead.
const DateLineForms = `"Thứ Năm, ngày 28 tháng 3 năm 2024", "28/3/2024" (or 28-3-2024, 28.3.2024), ` +
	`each with an optional time before or after it ("08:00", "8h30", "8 giờ 30") ` +
	`and zone ("(GMT+7)")`

// DateForms names the forms ParseDate accepts.
const DateForms = `RFC 3339 ("2024-03-28T08:00:00+07:00"), "2024-03-28T08:00:00", ` +
	`"2024-03-28 08:00[:00]", "2024-03-28", RFC 1123 ("Thu, 28 Mar 2024 08:00:00 +0700"), ` +
	`or a Vietnamese date line such as "Thứ Năm, ngày 28 tháng 3 năm 2024 08:00" or "28/3/2024 08:00 (GMT+7)"`

// errNotDateLine says the text is not a date line at all, as opposed to a
// date line that names a day which does not exist.
var errNotDateLine = errors.New("not a date line")

// ParseDateLine reads a date line as Vietnamese news pages print it: day
// first, "[Thứ Năm, ][ngày ]28 tháng 3 năm 2024" or "28/3/2024" (also with
// "-" or "." between the numbers), with an optional time before or after the
// date ("08:00", "8:30", "8h30", "8h", "8 giờ 30 phút", "08:00 AM") and an
// optional zone ("GMT+7", "(UTC+07:00)") that then sets the offset; words
// such as "lúc" and "Cập nhật:" and separators such as "|" may come between.
// A year-first "2024-03-28" is read too, as it cannot be misread. Without
// a time the result is midnight; without a zone it is in loc (UTC when loc
// is nil). Case, white space (no-break space included) and Unicode
// normalization do not matter.
//
// A weekday that disagrees with the date is ignored, not an error: the
// numeric date is what the publisher's system stamped, the weekday is
// derived text, and losing an article over a redundant word helps no one.
//
// The error says whether s is no date line at all or names a day that does
// not exist ("31/2/2024").
func ParseDateLine(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	p := dateLineParser{s: foldDateLine(s)}
	var (
		haveDate, haveTime, haveZone, haveWeekday bool
		d                                         civilDate
		c                                         clock
		offset                                    int
	)
	for {
		p.skipSeparators()
		if p.i >= len(p.s) {
			break
		}
		switch {
		case !haveWeekday && p.weekday():
			haveWeekday = true
		case p.keyword():
		case !haveDate && p.date(&d):
			haveDate = true
		case !haveTime && p.clock(&c):
			haveTime = true
		case !haveZone && p.zone(&offset):
			haveZone = true
		default:
			return time.Time{}, errNotDateLine
		}
	}
	if !haveDate {
		return time.Time{}, errNotDateLine
	}
	if err := d.check(); err != nil {
		return time.Time{}, err
	}
	if err := c.check(); err != nil {
		return time.Time{}, err
	}
	if haveZone {
		loc = time.FixedZone("", offset)
	}
	return time.Date(d.year, time.Month(d.month), d.day, c.hour, c.min, c.sec, 0, loc), nil
}

// civilDate is a calendar date as written, before it is checked.
type civilDate struct{ year, month, day int }

func (d civilDate) check() error {
	if d.year < 1000 || d.month < 1 || d.month > 12 || d.day < 1 ||
		d.day > daysIn(time.Month(d.month), d.year) {
		return fmt.Errorf("%d/%d/%d is no date (day/month/year)", d.day, d.month, d.year)
	}
	return nil
}

func daysIn(m time.Month, year int) int {
	// Day 0 of the next month is the last day of m.
	return time.Date(year, m+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// clock is a time of day as written, before it is checked.
type clock struct{ hour, min, sec int }

func (c clock) check() error {
	if c.hour > 23 || c.min > 59 || c.sec > 59 {
		return fmt.Errorf("%02d:%02d:%02d is no time of day", c.hour, c.min, c.sec)
	}
	return nil
}

// foldDateLine puts s into the one shape the parser matches: NFC, lower
// case, every run of white space a single ASCII space.
func foldDateLine(s string) string {
	return strings.ToLower(collapseSpace(norm.NFC.String(s)))
}

// dateLineParser scans a folded date line. Each method either consumes one
// item and reports true, or leaves the position where it was.
type dateLineParser struct {
	s string
	i int
}

func (p *dateLineParser) skipSeparators() {
	for p.i < len(p.s) {
		r, n := utf8.DecodeRuneInString(p.s[p.i:])
		switch r {
		case ' ', ',', '.', ';', ':', '|', '/', '-', '–', '—', '(', ')', '[', ']':
			p.i += n
		default:
			return
		}
	}
}

// word consumes w when it is followed by the end of the line or by a
// character that cannot continue a word.
func (p *dateLineParser) word(w string) bool {
	if !strings.HasPrefix(p.s[p.i:], w) || !p.boundaryAt(p.i+len(w)) {
		return false
	}
	p.i += len(w)
	return true
}

func (p *dateLineParser) boundaryAt(i int) bool {
	if i >= len(p.s) {
		return true
	}
	r, _ := utf8.DecodeRuneInString(p.s[i:])
	return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.Is(unicode.Mn, r)
}

// weekdayWords are the weekday names of a date line, folded. They are only
// recognized, never checked against the date (see ParseDateLine).
var weekdayWords = [...]string{
	"thứ hai", "thứ ba", "thứ tư", "thứ năm", "thứ sáu", "thứ bảy", "thứ bẩy",
	"thứ 2", "thứ 3", "thứ 4", "thứ 5", "thứ 6", "thứ 7", "chủ nhật", "cn",
}

func (p *dateLineParser) weekday() bool {
	for _, w := range weekdayWords {
		if p.word(w) {
			return true
		}
	}
	return false
}

// dateKeywords are the words pages print around the date and time.
var dateKeywords = [...]string{"ngày", "lúc", "vào", "cập nhật", "đăng"}

func (p *dateLineParser) keyword() bool {
	for _, w := range dateKeywords {
		if p.word(w) {
			return true
		}
	}
	return false
}

// digits consumes between min and max ASCII digits and returns their value.
// It fails when more than max digits follow, so "20245" is not a year.
func (p *dateLineParser) digits(min, max int) (int, bool) {
	j, v := p.i, 0
	for j < len(p.s) && j-p.i < max && p.s[j] >= '0' && p.s[j] <= '9' {
		v = v*10 + int(p.s[j]-'0')
		j++
	}
	if j-p.i < min || (j < len(p.s) && p.s[j] >= '0' && p.s[j] <= '9') {
		return 0, false
	}
	p.i = j
	return v, true
}

func (p *dateLineParser) byte(c byte) bool {
	if p.i < len(p.s) && p.s[p.i] == c {
		p.i++
		return true
	}
	return false
}

// date consumes "28/3/2024", "28-3-2024", "28.3.2024", "28 tháng 3 năm
// 2024" or, unambiguous because the year leads, "2024-03-28".
func (p *dateLineParser) date(d *civilDate) bool {
	start := p.i
	fail := func() bool { p.i = start; return false }
	if y, ok := p.digits(4, 4); ok {
		if !p.byte('-') {
			return fail()
		}
		m, ok1 := p.digits(1, 2)
		ok2 := p.byte('-')
		dd, ok3 := p.digits(1, 2)
		if !ok1 || !ok2 || !ok3 || !p.boundaryAt(p.i) {
			return fail()
		}
		*d = civilDate{year: y, month: m, day: dd}
		return true
	}
	day, ok := p.digits(1, 2)
	if !ok || p.i >= len(p.s) {
		return fail()
	}
	var month, year int
	switch sep := p.s[p.i]; sep {
	case '/', '-', '.':
		p.i++
		m, ok1 := p.digits(1, 2)
		ok2 := p.byte(sep)
		y, ok3 := p.digits(4, 4)
		if !ok1 || !ok2 || !ok3 {
			return fail()
		}
		month, year = m, y
	case ' ':
		p.i++
		if !p.word("tháng") {
			return fail()
		}
		p.byte(' ')
		m, ok := p.digits(1, 2)
		if !ok {
			return fail()
		}
		// "năm" is usual but "28 tháng 3, 2024" and "28 tháng 3/2024" occur.
		p.byte(',')
		p.byte('/')
		p.byte(' ')
		if p.word("năm") {
			p.byte(' ')
		}
		y, ok := p.digits(4, 4)
		if !ok {
			return fail()
		}
		month, year = m, y
	default:
		return fail()
	}
	if !p.boundaryAt(p.i) {
		return fail()
	}
	*d = civilDate{year: year, month: month, day: day}
	return true
}

// clock consumes "08:00", "08:00:15", "8h30", "8h", "8g30", "8 giờ 30
// phút" or "8 giờ", then an optional "am"/"pm".
func (p *dateLineParser) clock(c *clock) bool {
	start := p.i
	fail := func() bool { p.i = start; return false }
	h, ok := p.digits(1, 2)
	if !ok {
		return false
	}
	var m, sec int
	switch {
	case p.byte(':'):
		if m, ok = p.digits(2, 2); !ok {
			return fail()
		}
		if p.byte(':') {
			if sec, ok = p.digits(2, 2); !ok {
				return fail()
			}
		}
	case p.byte('h') || p.byte('g'):
		m, _ = p.minutes()
	default:
		p.byte(' ')
		if !p.word("giờ") {
			return fail()
		}
		mark := p.i
		if p.byte(' ') {
			if mm, ok := p.minutes(); ok {
				m = mm
				mark = p.i
				if p.byte(' ') && p.word("phút") {
					mark = p.i
				}
			}
		}
		p.i = mark
	}
	if !p.boundaryAt(p.i) {
		return fail()
	}
	mark := p.i
	if p.byte(' ') {
		switch {
		case p.word("am"):
			if h < 1 || h > 12 {
				return fail()
			}
			h %= 12
		case p.word("pm"):
			if h < 1 || h > 12 {
				return fail()
			}
			h = h%12 + 12
		default:
			p.i = mark
		}
	}
	*c = clock{hour: h, min: m, sec: sec}
	return true
}

// minutes consumes the minutes after "8h" or "8 giờ ", when there are
// any: "8 giờ 28/3/2024" is 8:00 on the 28th, not 8:28.
func (p *dateLineParser) minutes() (int, bool) {
	start := p.i
	m, ok := p.digits(1, 2)
	if !ok {
		return 0, false
	}
	if p.i < len(p.s) && strings.IndexByte("/-.", p.s[p.i]) >= 0 {
		p.i = start
		return 0, false
	}
	return m, true
}

// zone consumes "gmt", "utc", optionally followed by an offset "+7",
// "+07", "+07:00" or "+0700". The offset is in seconds east of UTC.
func (p *dateLineParser) zone(offset *int) bool {
	start := p.i
	fail := func() bool { p.i = start; return false }
	if !strings.HasPrefix(p.s[p.i:], "gmt") && !strings.HasPrefix(p.s[p.i:], "utc") {
		return false
	}
	p.i += 3
	sign := 0
	switch {
	case p.byte('+'):
		sign = 1
	case p.byte('-'):
		sign = -1
	}
	if sign == 0 {
		if !p.boundaryAt(p.i) {
			return fail()
		}
		*offset = 0
		return true
	}
	var h, m int
	digitsStart := p.i
	v, ok := p.digits(1, 4)
	if !ok {
		return fail()
	}
	switch n := p.i - digitsStart; {
	case n <= 2 && p.byte(':'):
		h = v
		if m, ok = p.digits(2, 2); !ok {
			return fail()
		}
	case n <= 2:
		h = v
	case n == 4:
		h, m = v/100, v%100
	default:
		return fail()
	}
	if h > 14 || m > 59 || !p.boundaryAt(p.i) {
		return fail()
	}
	*offset = sign * (h*3600 + m*60)
	return true
}

// isoLayouts are the machine forms ParseDate tries before the Vietnamese
// ones. Those with a zone keep it; the others are read in loc.
var isoLayouts = [...]struct {
	layout string
	zoned  bool
}{
	{time.RFC3339, true},
	// ISO 8601 allows the offset without a colon; many CMSs write it so.
	{"2006-01-02T15:04:05-0700", true},
	{"2006-01-02T15:04:05.999999999-0700", true},
	// YAML timestamps put a space where RFC 3339 has "T".
	{"2006-01-02 15:04:05Z07:00", true},
	{"2006-01-02 15:04:05 Z07:00", true},
	{"2006-01-02 15:04:05 -0700", true},
	{"2006-01-02T15:04:05", false},
	{"2006-01-02T15:04", false},
	{"2006-01-02 15:04:05", false},
	{"2006-01-02 15:04", false},
	{"2006-01-02", false},
	// "2" rather than RFC 1123's "02" also takes one-digit days (RFC 822).
	{"Mon, 2 Jan 2006 15:04:05 -0700", true},
	{"Mon, 2 Jan 2006 15:04:05 MST", true},
	{"2 Jan 2006 15:04:05 -0700", true},
	{"2 Jan 2006 15:04:05 MST", true},
}

// namedZones are the zone names of RFC 822 and the one of Vietnam. Go
// gives unknown names a zero offset, which would silently shift the time.
var namedZones = map[string]int{
	"UT": 0, "UTC": 0, "GMT": 0, "Z": 0,
	"EST": -5, "EDT": -4, "CST": -6, "CDT": -5,
	"MST": -7, "MDT": -6, "PST": -8, "PDT": -7,
	"ICT": 7,
}

// ParseDate reads a date as JSON files and front matter give it: the forms
// named by DateForms. A date without a zone is read in loc (UTC when loc is
// nil); one without a time is midnight.
func ParseDate(s string, loc *time.Location) (time.Time, error) {
	if loc == nil {
		loc = time.UTC
	}
	s = strings.TrimFunc(s, isSpace)
	if s == "" {
		return time.Time{}, fmt.Errorf("empty date; use %s", DateForms)
	}
	for _, l := range isoLayouts {
		var t time.Time
		var err error
		if l.zoned {
			// ParseInLocation with UTC keeps a named zone from being read
			// in the machine's local zone.
			t, err = time.ParseInLocation(l.layout, s, time.UTC)
		} else {
			t, err = time.ParseInLocation(l.layout, s, loc)
		}
		if err != nil {
			continue
		}
		if !strings.HasSuffix(l.layout, "MST") {
			return t, nil
		}
		name, _ := t.Zone()
		if strings.HasPrefix(name, "GMT") {
			return t, nil // Go reads "GMT+7" itself
		}
		h, ok := namedZones[name]
		if !ok {
			return time.Time{}, fmt.Errorf("%q: unknown zone %q; write the offset, as in +0700", s, name)
		}
		y, mo, d := t.Date()
		return time.Date(y, mo, d, t.Hour(), t.Minute(), t.Second(), t.Nanosecond(), time.FixedZone(name, h*3600)), nil
	}
	t, err := ParseDateLine(s, loc)
	if err == nil {
		return t, nil
	}
	if errors.Is(err, errNotDateLine) {
		return time.Time{}, fmt.Errorf("%q is not a date; use %s", s, DateForms)
	}
	return time.Time{}, fmt.Errorf("%q: %w", s, err)
}
