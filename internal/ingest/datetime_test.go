package ingest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"golang.org/x/text/unicode/norm"
)

func TestParseDateLine(t *testing.T) {
	loc := vietnam(t)
	tests := []struct {
		in   string
		want string // RFC 3339
	}{
		{"Thứ Năm, ngày 28 tháng 3 năm 2024", "2024-03-28T00:00:00+07:00"},
		{"thứ năm, NGÀY 28 THÁNG 3 NĂM 2024", "2024-03-28T00:00:00+07:00"},
		{"ngày 28 tháng 03 năm 2024", "2024-03-28T00:00:00+07:00"},
		{"28 tháng 3, 2024", "2024-03-28T00:00:00+07:00"},
		{"28 tháng 3/2024", "2024-03-28T00:00:00+07:00"},
		{"28/3/2024", "2024-03-28T00:00:00+07:00"},
		{"28/03/2024", "2024-03-28T00:00:00+07:00"},
		{"5-1-2024", "2024-01-05T00:00:00+07:00"},
		{"05.01.2024.", "2024-01-05T00:00:00+07:00"},
		{"2024-03-28", "2024-03-28T00:00:00+07:00"},
		{"08:00 28/3/2024", "2024-03-28T08:00:00+07:00"},
		{"8:05 28/3/2024", "2024-03-28T08:05:00+07:00"},
		{"28/3/2024 08:00:59", "2024-03-28T08:00:59+07:00"},
		{"Thứ Năm, 28/3/2024 08:00 (GMT+7)", "2024-03-28T08:00:00+07:00"},
		{"Thứ Năm, 28/3/2024, 08:00 (GMT+9)", "2024-03-28T08:00:00+09:00"},
		{"28/3/2024 - 8h30", "2024-03-28T08:30:00+07:00"},
		{"28/3/2024 | 8h", "2024-03-28T08:00:00+07:00"},
		{"8g30 ngày 28/3/2024", "2024-03-28T08:30:00+07:00"},
		{"08 giờ 30 phút, ngày 28 tháng 3 năm 2024", "2024-03-28T08:30:00+07:00"},
		{"8 giờ 28/3/2024", "2024-03-28T08:00:00+07:00"},
		{"28/3/2024 8:30 PM", "2024-03-28T20:30:00+07:00"},
		{"28/3/2024 12:10 am", "2024-03-28T00:10:00+07:00"},
		{"28/3/2024 08:00 GMT", "2024-03-28T08:00:00Z"},
		{"28/3/2024 08:00 UTC+07:00", "2024-03-28T08:00:00+07:00"},
		{"28/3/2024 08:00 GMT-0530", "2024-03-28T08:00:00-05:30"},
		{"Chủ Nhật, 31/3/2024", "2024-03-31T00:00:00+07:00"},
		{"Chủ nhật, 31/3/2024", "2024-03-31T00:00:00+07:00"},
		{"CN, 31/3/2024", "2024-03-31T00:00:00+07:00"},
		{"Thứ 5, 28/3/2024", "2024-03-28T00:00:00+07:00"},
		{"Thứ Bảy, 30/3/2024", "2024-03-30T00:00:00+07:00"},
		{"Cập nhật: 08:00 28/3/2024", "2024-03-28T08:00:00+07:00"},
		{"28/3/2024 lúc 08:00", "2024-03-28T08:00:00+07:00"},
		{"29/2/2024", "2024-02-29T00:00:00+07:00"},
		// The weekday is not checked against the date: 28/3/2024 is a Thursday.
		{"Thứ Hai, 28/3/2024", "2024-03-28T00:00:00+07:00"},
		{"\u00a0Thứ\u00a0Năm,\u00a0 28/3/2024\u200b", "2024-03-28T00:00:00+07:00"},
		{norm.NFD.String("Thứ Năm, ngày 28 tháng 3 năm 2024"), "2024-03-28T00:00:00+07:00"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDateLine(tt.in, loc)
			if err != nil {
				t.Fatalf("ParseDateLine(%q): %v", tt.in, err)
			}
			if s := got.Format(time.RFC3339); s != tt.want {
				t.Errorf("ParseDateLine(%q) = %s, want %s", tt.in, s, tt.want)
			}
		})
	}
}

func TestParseDateLineErrors(t *testing.T) {
	tests := []struct {
		in      string
		notDate bool // else a date line naming no real day or time
	}{
		{"", true},
		{"Tiêu đề bài viết", true},
		{"28/3", true},
		{"28/3/24", true},
		{"28/3-2024", true},
		{"28/3/20245", true},
		{"Thứ Năm", true},
		{"Thứ Tám, 28/3/2024", true},
		{"28/3/2024 Hà Nội", true},
		{"28/3/2024 28/3/2024", true},
		{"08:00", true},
		{"8hello 28/3/2024", true},
		{"28/3/2024 08:00 GMT+15", true},
		{"28/3/2024 13:00 pm", true},
		{"31/2/2024", false},
		{"29/2/2023", false},
		{"0/1/2024", false},
		{"1/13/2024", false},
		{"1/1/0999", false},
		{"28/3/2024 24:00", false},
		{"28/3/2024 8h60", false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseDateLine(tt.in, time.UTC)
			if err == nil {
				t.Fatalf("ParseDateLine(%q) = nil error", tt.in)
			}
			if got := errors.Is(err, errNotDateLine); got != tt.notDate {
				t.Errorf("ParseDateLine(%q) = %v; not a date line: %v, want %v", tt.in, err, got, tt.notDate)
			}
		})
	}
}

func TestParseDate(t *testing.T) {
	loc := vietnam(t)
	tests := []struct {
		in   string
		want string // RFC 3339 with nanoseconds
	}{
		{"2024-03-28T08:00:00+07:00", "2024-03-28T08:00:00+07:00"},
		{"2024-03-28T01:00:00Z", "2024-03-28T01:00:00Z"},
		{"2024-03-28T08:00:00.5-05:00", "2024-03-28T08:00:00.5-05:00"},
		{"2024-03-28T08:00:00+0700", "2024-03-28T08:00:00+07:00"},
		{"2024-03-28T08:00:00.25-0500", "2024-03-28T08:00:00.25-05:00"},
		{"2024-03-28T08:00:00", "2024-03-28T08:00:00+07:00"},
		{"2024-03-28T08:00", "2024-03-28T08:00:00+07:00"},
		{"2024-03-28 08:00:00", "2024-03-28T08:00:00+07:00"},
		{"2024-03-28 08:00", "2024-03-28T08:00:00+07:00"},
		{"2024-03-28 08:00:00 +09:00", "2024-03-28T08:00:00+09:00"},
		{"2024-03-28 08:00:00+09:00", "2024-03-28T08:00:00+09:00"},
		{"2024-03-28 08:00:00 +0900", "2024-03-28T08:00:00+09:00"},
		{"2024-03-28", "2024-03-28T00:00:00+07:00"},
		{"  2024-03-28\n", "2024-03-28T00:00:00+07:00"},
		{"Thu, 28 Mar 2024 08:00:00 +0700", "2024-03-28T08:00:00+07:00"},
		{"Thu, 28 Mar 2024 01:00:00 GMT", "2024-03-28T01:00:00Z"},
		{"Thu, 28 Mar 2024 01:00:00 UTC", "2024-03-28T01:00:00Z"},
		{"Mon, 4 Mar 2024 08:00:00 EST", "2024-03-04T08:00:00-05:00"},
		{"28 Mar 2024 08:00:00 +0700", "2024-03-28T08:00:00+07:00"},
		{"Thứ Năm, ngày 28 tháng 3 năm 2024", "2024-03-28T00:00:00+07:00"},
		{"28/3/2024 08:00 (GMT+7)", "2024-03-28T08:00:00+07:00"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDate(tt.in, loc)
			if err != nil {
				t.Fatalf("ParseDate(%q): %v", tt.in, err)
			}
			if s := got.Format(time.RFC3339Nano); s != tt.want {
				t.Errorf("ParseDate(%q) = %s, want %s", tt.in, s, tt.want)
			}
		})
	}
}

func TestParseDateErrors(t *testing.T) {
	tests := []struct {
		in     string
		wantIn string // part of the message
	}{
		{"", "empty date"},
		{"hôm qua", "RFC 3339"},
		{"2024-02-30", "30/2/2024 is no date"},
		{"31/2/2024", "31/2/2024 is no date"},
		{"Thu, 28 Mar 2024 08:00:00 XYZ", `unknown zone "XYZ"`},
		{"2024-03-28T25:00:00", "RFC 3339"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseDate(tt.in, time.UTC)
			if err == nil || !strings.Contains(err.Error(), tt.wantIn) {
				t.Errorf("ParseDate(%q) = %v, want an error with %q", tt.in, err, tt.wantIn)
			}
		})
	}
}

func FuzzParseDate(f *testing.F) {
	for _, s := range []string{
		"Thứ Hai, ngày 4 tháng 11 năm 2024", "28/3/2024 08:30 (GMT+7)", "08:00 28/3/2024",
		"8 giờ 30 phút 28.3.2024", "2024-03-28T08:00:00+07:00", "2024-03-28 08:00",
		"Thu, 28 Mar 2024 08:00:00 GMT", "31/2/2024", "28/3/2024 8:30 pm GMT-0530",
	} {
		f.Add(s)
	}
	files, _ := filepath.Glob("testdata/page/*.txt")
	for _, file := range files {
		data, err := os.ReadFile(file)
		if err != nil {
			f.Fatal(err)
		}
		line, _, _ := strings.Cut(lfText(data), "\n")
		f.Add(line)
	}
	loc := time.FixedZone("ICT", 7*3600)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseDate(s, loc)
		if err != nil {
			return
		}
		// What ParseDate returns it can read back, to the same instant.
		again, err := ParseDate(got.Format(time.RFC3339Nano), loc)
		if err != nil {
			t.Fatalf("ParseDate(%q) = %v, which does not read back: %v", s, got, err)
		}
		if !again.Equal(got) {
			t.Errorf("ParseDate(%q) = %v, read back as %v", s, got, again)
		}
		if line, err := ParseDateLine(s, loc); err == nil && !line.Equal(got) {
			t.Errorf("ParseDate(%q) = %v but ParseDateLine gives %v", s, got, line)
		}
	})
}
