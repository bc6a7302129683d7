package article

import (
	"strings"
	"testing"
)

// TestSlugifyEveryLatinLetter compares Slugify, which decomposes Latin
// letters one at a time, with slugifyNFD, which takes the NFD of the whole
// title, for every code point up to U+2FFF alone, between letters, before
// and after combining marks, and twice in a row. (What a slug keeps of a
// decomposed title is TestSlugify's.)
func TestSlugifyEveryLatinLetter(t *testing.T) {
	for r := rune(0); r < 0x3000; r++ {
		c := string(r)
		for _, s := range []string{c, "a" + c + "b", "A " + c + " 1", c + "\u0301", c + "\u031b\u0323", "e\u0302" + c, c + c, "Đ" + c + "đ", "x\u0345" + c + "\u0300\u0315"} {
			if got, want := Slugify(s), slugifyNFD(s); got != want {
				t.Errorf("Slugify(%q) = %q, want %q", s, got, want)
			}
		}
	}
}

func TestSlugifyLongTitles(t *testing.T) {
	for _, s := range []string{strings.Repeat("Việt Nam ", 20), strings.Repeat("Điện", 30), strings.Repeat("a-", 50) + "Ấ", strings.Repeat("ỗ ", 41), "中文" + strings.Repeat("Dân ", 30)} {
		if got, want := Slugify(s), slugifyNFD(s); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", s, got, want)
		}
	}
}

// FuzzSlugify holds Slugify to slugifyNFD.
func FuzzSlugify(f *testing.F) {
	for _, s := range []string{"Công tác dân vận góp phần gắn kết", "Đường đến Điện Biên Phủ", "  TP.HCM: 2.000 hộ dân!  ", "中文标题", "e\u0301\u0323", "\xff\xfeViệt", "Ǖǖ Ǻ ǻ ȁ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Slugify(s), slugifyNFD(s); got != want {
			t.Errorf("Slugify(%q) = %q, want %q", s, got, want)
		}
	})
}
