// Package locale writes dates and interface words the way the site's
// language does: "Thứ Năm, ngày 28 tháng 3 năm 2024" in Vietnamese.
// Every sentence a reader sees (pages, form errors, emails) is in the
// catalogue, in Vietnamese and in English: Words for the words every page
// uses, T for the rest, by key.
package locale

import (
	"fmt"
	"time"
)

// Languages that bantin's pages and emails are written in.
const (
	Vietnamese = "vi"
	English    = "en"
)

var viWeekdays = [...]string{"Chủ Nhật", "Thứ Hai", "Thứ Ba", "Thứ Tư", "Thứ Năm", "Thứ Sáu", "Thứ Bảy"}

// LongDate writes the day of t as a reader of lang expects on a page or in
// an email. t is shown in its own location; convert it first.
func LongDate(t time.Time, lang string) string {
	if lang == English {
		return t.Format("Monday, 2 January 2006")
	}
	return fmt.Sprintf("%s, ngày %d tháng %d năm %d", viWeekdays[t.Weekday()], t.Day(), int(t.Month()), t.Year())
}

// DateTime writes the day and the time of t, with the zone's offset. A
// time of exactly midnight is taken for "no time given" (a printed page
// with a date only) and left out.
func DateTime(t time.Time, lang string) string {
	if t.Hour() == 0 && t.Minute() == 0 && t.Second() == 0 {
		return LongDate(t, lang)
	}
	return fmt.Sprintf("%s, %s (%s)", LongDate(t, lang), t.Format("15:04"), shortOffset(t))
}

// shortOffset writes a zone as news sites in Vietnam do: GMT+7.
func shortOffset(t time.Time) string {
	_, secs := t.Zone()
	sign := "+"
	if secs < 0 {
		sign, secs = "-", -secs
	}
	h, m := secs/3600, secs%3600/60
	if m == 0 {
		return fmt.Sprintf("GMT%s%d", sign, h)
	}
	return fmt.Sprintf("GMT%s%d:%02d", sign, h, m)
}

// Words are the interface strings of one language.
type Words struct {
	Lang         string
	Home         string
	Published    string
	Updated      string
	Author       string
	Categories   string
	NotFound     string
	NotFoundText string
	BackHome     string
	Source       string
	Latest       string
	Feeds        string
	FeedsHelp    string
	NoArticles   string

	Subscribe, Email, Name, NameOptional, Newsletters, SubscribeButton, TooMany               string
	CheckEmail, CheckEmailText, Welcome, WelcomeText, Confirmed, ConfirmedText                string
	LinkExpired, LinkInvalid                                                                  string
	Unsubscribe, UnsubscribeText, UnsubscribeAllText, UnsubscribeButton, UnsubscribeAll       string
	Unsubscribed, UnsubscribedText, Preferences, PreferencesText, CategoriesText, Save, Saved string
}

// For returns the words of lang, Vietnamese unless lang is English.
func For(lang string) Words {
	if lang == English {
		return Words{Lang: English, Home: "Home", Published: "Published", Updated: "Updated", Author: "Author",
			Categories: "Sections", NotFound: "Page not found", NotFoundText: "This page does not exist or is not published yet.",
			BackHome: "Back to the home page", Source: "Read at the source",
			Latest: "Latest news", Feeds: "Feeds", FeedsHelp: "Follow the site in a feed reader: copy a feed's address into it.",
			NoArticles: "No articles yet.",
			Subscribe:  "Subscribe to the newsletters", Email: "Email address", Name: "Name", NameOptional: "(optional)",
			Newsletters: "Newsletters", SubscribeButton: "Subscribe", TooMany: "Too many sign-ups from your address; try again later.",
			CheckEmail: "Check your email", CheckEmailText: "We sent you an email with a link: open it to confirm your subscription.",
			Welcome: "You are subscribed", WelcomeText: "The next issue will reach you.",
			Confirmed: "Subscription confirmed", ConfirmedText: "Thank you. You will receive:",
			LinkExpired: "This link has expired. Sign up again to get a new one.", LinkInvalid: "This link is not valid.",
			Unsubscribe: "Unsubscribe", UnsubscribeText: "Stop sending %s to", UnsubscribeAllText: "Stop sending every newsletter to",
			UnsubscribeButton: "Unsubscribe", UnsubscribeAll: "Unsubscribe from every newsletter",
			Unsubscribed: "Unsubscribed", UnsubscribedText: "You will not receive it any more:",
			Preferences: "Your newsletters", PreferencesText: "Choose what you receive at", CategoriesText: "Only these sections (none ticked: all)",
			Save: "Save", Saved: "Saved."}
	}
	return Words{Lang: Vietnamese, Home: "Trang chủ", Published: "Đăng lúc", Updated: "Cập nhật", Author: "Tác giả",
		Categories: "Chuyên mục", NotFound: "Không tìm thấy trang", NotFoundText: "Trang này không tồn tại hoặc chưa được đăng.",
		BackHome: "Về trang chủ", Source: "Xem bài gốc",
		Latest: "Tin mới nhất", Feeds: "Nguồn tin (RSS)", FeedsHelp: "Theo dõi trang bằng trình đọc tin: chép địa chỉ một nguồn tin vào đó.",
		NoArticles: "Chưa có bài viết nào.",
		Subscribe:  "Đăng ký nhận bản tin", Email: "Địa chỉ email", Name: "Họ tên", NameOptional: "(không bắt buộc)",
		Newsletters: "Bản tin", SubscribeButton: "Đăng ký", TooMany: "Địa chỉ của bạn đã đăng ký quá nhiều lần; vui lòng thử lại sau.",
		CheckEmail: "Vui lòng kiểm tra email", CheckEmailText: "Chúng tôi đã gửi cho bạn một email có đường liên kết: hãy mở nó để xác nhận đăng ký.",
		Welcome: "Bạn đã đăng ký", WelcomeText: "Bạn sẽ nhận được số bản tin tiếp theo.",
		Confirmed: "Đã xác nhận đăng ký", ConfirmedText: "Cảm ơn bạn. Bạn sẽ nhận:",
		LinkExpired: "Liên kết này đã hết hạn. Vui lòng đăng ký lại để nhận liên kết mới.", LinkInvalid: "Liên kết này không hợp lệ.",
		Unsubscribe: "Hủy đăng ký", UnsubscribeText: "Ngừng gửi %s tới", UnsubscribeAllText: "Ngừng gửi mọi bản tin tới",
		UnsubscribeButton: "Hủy đăng ký", UnsubscribeAll: "Hủy đăng ký mọi bản tin",
		Unsubscribed: "Đã hủy đăng ký", UnsubscribedText: "Bạn sẽ không nhận thư nữa tại:",
		Preferences: "Bản tin của bạn", PreferencesText: "Chọn những gì bạn nhận tại", CategoriesText: "Chỉ những chuyên mục này (không chọn: tất cả)",
		Save: "Lưu", Saved: "Đã lưu."}
}
