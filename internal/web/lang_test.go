package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
)

// TestSignupFormErrorsInSiteLanguage: each refusal of the sign-up form is
// a sentence of the locale catalogue in site.language, vi or en, on the
// form with what was typed kept, never the subscriber package's English
// reason.
func TestSignupFormErrorsInSiteLanguage(t *testing.T) {
	for _, tc := range []struct {
		lang string
		form url.Values
		want string
	}{
		{"vi", url.Values{"email": {"ban-doc@example.vn"}}, "Vui lòng chọn ít nhất một bản tin."},
		{"vi", url.Values{"email": {"not-an-email"}, "list": {"sang"}}, "“not-an-email” không phải là một địa chỉ email hợp lệ."},
		{"vi", url.Values{"email": {"  "}, "list": {"sang"}}, "Vui lòng nhập địa chỉ email."},
		{"vi", url.Values{"email": {"ban-doc@example.vn"}, "list": {"nope"}}, "Không có bản tin “nope”."},
		{"vi", url.Values{"email": {"ban-doc@example.vn"}, "list": {"sang"}, "name": {strings.Repeat("x", 101)}}, "Họ tên dài quá 100 ký tự."},
		{"en", url.Values{"email": {"ban-doc@example.vn"}}, "Please choose at least one newsletter."},
		{"en", url.Values{"email": {"not-an-email"}, "list": {"sang"}}, "“not-an-email” is not an email address."},
		{"en", url.Values{"email": {"ban-doc@example.vn"}, "list": {"nope"}}, "There is no newsletter “nope”."},
	} {
		f := newSignupFixtureWith(t, signupConfig{lang: tc.lang})
		status, body := postForm(t, f.url+"/subscribe", tc.form, nil)
		if status != http.StatusBadRequest || !strings.Contains(body, `<p class="error" role="alert">`+tc.want) {
			t.Errorf("%s %v: %d; want 400 with %q in:\n%s", tc.lang, tc.form, status, tc.want, body)
		}
		for _, english := range []string{"choose at least one newsletter", "is not an email address", `no newsletter "`, "longer than"} {
			if tc.lang == "vi" && strings.Contains(body, english) {
				t.Errorf("%s %v: English %q on the page", tc.lang, tc.form, english)
			}
		}
		if e := strings.TrimSpace(tc.form.Get("email")); e != "" && !strings.Contains(body, `value="`+e+`"`) {
			t.Errorf("%s %v: the address typed is not kept", tc.lang, tc.form)
		}
	}
}
