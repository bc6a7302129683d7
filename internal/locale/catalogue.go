package locale

import (
	"fmt"
	"sort"
)

// message is one entry of the catalogue: the same sentence in each
// language, with the same fmt verbs in the same order.
type message struct{ vi, en string }

// catalogue holds the sentences that are not among Words, by key. It is a
// read-only table, like the weekday names: keys are grouped by the page or
// email that shows them.
var catalogue = map[string]message{
	// The sign-up form's answers (subscribe.html, the home page's form).
	"form.email_missing":  {"Vui lòng nhập địa chỉ email.", "Please enter your email address."},
	"form.email_invalid":  {"“%s” không phải là một địa chỉ email hợp lệ. Vui lòng kiểm tra lại.", "“%s” is not an email address. Please check it."},
	"form.name_too_long":  {"Họ tên dài quá %d ký tự.", "The name is longer than %d characters."},
	"form.choose_list":    {"Vui lòng chọn ít nhất một bản tin.", "Please choose at least one newsletter."},
	"form.unknown_list":   {"Không có bản tin “%s”. Vui lòng chọn trong danh sách dưới đây.", "There is no newsletter “%s”. Please choose one below."},
	"form.invalid":        {"Không thể đăng ký với thông tin này. Vui lòng kiểm tra lại.", "This sign-up could not be taken. Please check what you typed."},
	"form.honeypot_label": {"Đừng điền ô này", "Leave this empty"},
	// An address whose part before the @ is not ASCII: deliverable only
	// where every relay takes SMTPUTF8, which bantin cannot know.
	"form.email_local_unicode": {"“%s” có dấu hoặc ký tự không phải ASCII ở phần trước @, nên không phải hệ thống thư nào cũng chuyển được. Vui lòng dùng một địa chỉ chỉ có chữ không dấu, số và . _ - + ở phần đó.",
		"“%s” has accented or non-ASCII letters before the @, which not every mail system can deliver to. Please use an address with only plain letters, digits and . _ - + in that part."},

	// The answer to a sign-up (subscribed.html).
	"subscribed.pending": {"Nếu địa chỉ này chưa đăng ký, một email có đường liên kết xác nhận sẽ được gửi tới: hãy mở nó để xác nhận đăng ký.",
		"Unless this address is subscribed already, an email with a confirmation link is on its way: open it to confirm your subscription."},

	// The confirmation page (confirm.html).
	"confirm.title":  {"Xác nhận đăng ký", "Confirm your subscription"},
	"confirm.legend": {"Bấm nút dưới đây để nhận:", "Press the button to receive:"},
	"confirm.button": {"Xác nhận đăng ký", "Confirm my subscription"},
	"confirm.ignore": {"Nếu bạn không đăng ký, hãy đóng trang này: bạn sẽ không nhận thư nào.", "If you did not ask for this, close this page: nothing will be sent."},

	// The unsubscribe page once the button is pressed (unsubscribe.html).
	"unsubscribe.again_text":   {"Bạn đổi ý? Bạn có thể đăng ký lại bất cứ lúc nào.", "Changed your mind? You can subscribe again at any time."},
	"unsubscribe.again_button": {"Đăng ký lại", "Subscribe again"},

	// A form posted from another site's page (forbidden.html).
	"forbidden.title": {"Yêu cầu bị từ chối", "Request refused"},
	"forbidden.text": {"Biểu mẫu này chỉ gửi được từ các trang của %s. Vui lòng mở biểu mẫu trên trang và gửi từ đó.",
		"This form can only be sent from %s's own pages. Open the form on the site and send it from there."},

	// The archive of a newsletter (newsletter.html).
	"archive.issue":     {"Số %d", "Issue %d"},
	"archive.none":      {"Chưa có số bản tin nào.", "No issues yet."},
	"archive.feed":      {"Nguồn tin lưu trữ (Atom)", "Archive feed (Atom)"},
	"archive.subscribe": {"Đăng ký nhận bản tin này", "Subscribe to this newsletter"},

	// Error pages other than 404 (error.html), by kind.
	"error.bad_request":     {"Yêu cầu không hợp lệ", "Bad request"},
	"error.bad_request_txt": {"Trang không đọc được yêu cầu này. Vui lòng quay lại và thử lại.", "The page could not read this request. Go back and try again."},
	"error.too_large":       {"Yêu cầu quá lớn", "Request too large"},
	"error.too_large_txt":   {"Nội dung gửi lên quá lớn. Vui lòng gửi ít hơn.", "What was sent is too large. Send less."},
	"error.server":          {"Đã có lỗi xảy ra", "Something went wrong"},
	"error.disk_full":       {"Máy chủ hết dung lượng lưu trữ", "The server is out of storage"},
	"error.disk_full_txt":   {"Máy chủ đã hết chỗ lưu nên chưa lưu được gì. Vui lòng thử lại sau.", "The server has no room left to store anything, so nothing was saved. Please try again later."},
	"error.server_txt":      {"Máy chủ không trả lời được lúc này. Vui lòng thử lại sau ít phút.", "The server could not answer just now. Try again in a few minutes."},
	"error.other":           {"Không thực hiện được yêu cầu", "The request could not be done"},
	"error.other_txt":       {"Vui lòng quay lại trang chủ và thử lại.", "Go back to the home page and try again."},

	// The confirmation email (templates/email/confirm.*, its subject).
	"email.confirm_subject": {"Xác nhận đăng ký nhận bản tin %s", "Confirm your subscription to %s"},
	"email.ttl_days":        {"%d ngày", "%d days"},
	"email.ttl_hours":       {"%d giờ", "%d hours"},
	"email.hello":           {"Xin chào,", "Hello,"},
	"email.hello_name":      {"Xin chào %s,", "Hello %s,"},
	"email.confirm_lists":   {"Vui lòng xác nhận bạn muốn nhận bản tin của %s:", "Please confirm that you want %s's newsletters:"},
	"email.confirm_button":  {"Xác nhận đăng ký", "Confirm my subscription"},
	"email.confirm_link":    {"Xác nhận", "Confirm"},
	"email.confirm_ignore":  {"Liên kết có hiệu lực trong %s. Nếu bạn không đăng ký, hãy bỏ qua thư này: bạn sẽ không nhận thêm thư nào.", "The link works for %s. If you did not ask for this, ignore this email: nothing will be sent."},
	"email.view_in_browser": {"Xem trên trình duyệt", "View in your browser"},
	"email.read_more":       {"Đọc tiếp", "Read more"},
	"email.you_receive":     {"Bạn nhận %s của %s tại %s.", "You receive %s from %s at %s."},
	"email.preferences":     {"Tùy chọn", "Preferences"},
	"email.unsubscribe":     {"Hủy đăng ký", "Unsubscribe"},
	"email.subscribe_to":    {"Đăng ký nhận %s", "Subscribe to %s"},

	// The subject of a test copy that repeats the last issue (bantin
	// digest send --to with nothing new).
	"email.test_subject": {"[Thử] %s", "[Test] %s"},
}

// T is the catalogue's sentence key in lang (Vietnamese unless lang is
// English), with args put in as fmt does. A key that is not in the
// catalogue comes back as itself in brackets, so a page that shows one is
// easy to see and its test fails.
func T(lang, key string, args ...any) string {
	m, ok := catalogue[key]
	if !ok {
		return "[" + key + "]"
	}
	s := m.vi
	if lang == English {
		s = m.en
	}
	if len(args) == 0 {
		return s
	}
	return fmt.Sprintf(s, args...)
}

// Keys lists the catalogue's keys, sorted: for tests that check each one.
func Keys() []string {
	keys := make([]string, 0, len(catalogue))
	for k := range catalogue {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// Lookup is the catalogue's sentence key in lang exactly as written (no
// fallback, no args), and whether there is one.
func Lookup(lang, key string) (string, bool) {
	m, ok := catalogue[key]
	if !ok {
		return "", false
	}
	switch lang {
	case Vietnamese:
		return m.vi, m.vi != ""
	case English:
		return m.en, m.en != ""
	}
	return "", false
}

// T is the catalogue's sentence key in the language of w; page templates
// call it as {{.Words.T "confirm.title"}}.
func (w Words) T(key string, args ...any) string { return T(w.Lang, key, args...) }
