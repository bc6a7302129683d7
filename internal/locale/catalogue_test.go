package locale

import (
	"reflect"
	"regexp"
	"strings"
	"testing"
)

var verbs = regexp.MustCompile(`%[-+# 0]*[0-9]*[a-zA-Z%]`)

// TestCatalogueKeysInViAndEn checks that every sentence of the catalogue
// and every one of Words is written in both languages, with the same fmt
// verbs in the same order, so no reader of either language meets an empty
// string, a "%!s(MISSING)" or the other language.
func TestCatalogueKeysInViAndEn(t *testing.T) {
	if len(Keys()) == 0 {
		t.Fatal("empty catalogue")
	}
	for _, key := range Keys() {
		vi, okVi := Lookup(Vietnamese, key)
		en, okEn := Lookup(English, key)
		if !okVi || !okEn {
			t.Errorf("%s: vi %q, en %q; want both", key, vi, en)
			continue
		}
		if got, want := verbs.FindAllString(vi, -1), verbs.FindAllString(en, -1); !reflect.DeepEqual(got, want) {
			t.Errorf("%s: vi has verbs %v, en %v", key, got, want)
		}
	}
	for _, lang := range []string{Vietnamese, English} {
		w := reflect.ValueOf(For(lang))
		for i := 0; i < w.NumField(); i++ {
			if w.Field(i).Kind() == reflect.String && strings.TrimSpace(w.Field(i).String()) == "" {
				t.Errorf("Words.%s is empty in %s", w.Type().Field(i).Name, lang)
			}
		}
	}
	if got := T(Vietnamese, "no.such.key"); got != "[no.such.key]" {
		t.Errorf("a missing key gives %q; want it shown in brackets", got)
	}
	if got, want := For(Vietnamese).T("archive.issue", 3), "Số 3"; got != want {
		t.Errorf("Words.T = %q, want %q", got, want)
	}
	if got, want := T("fr", "form.choose_list"), "Vui lòng chọn ít nhất một bản tin."; got != want {
		t.Errorf("an unknown language gets %q, want the Vietnamese %q", got, want)
	}
}
