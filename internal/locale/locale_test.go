package locale

import (
	"testing"
	"time"
)

func TestLongDate(t *testing.T) {
	hcm, err := time.LoadLocation("Asia/Ho_Chi_Minh")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		t    time.Time
		lang string
		want string
	}{
		{time.Date(2024, 3, 28, 8, 0, 0, 0, hcm), Vietnamese, "Thứ Năm, ngày 28 tháng 3 năm 2024"},
		{time.Date(2024, 3, 31, 8, 0, 0, 0, hcm), Vietnamese, "Chủ Nhật, ngày 31 tháng 3 năm 2024"},
		{time.Date(2024, 11, 4, 0, 0, 0, 0, hcm), Vietnamese, "Thứ Hai, ngày 4 tháng 11 năm 2024"},
		{time.Date(2024, 3, 28, 8, 0, 0, 0, hcm), English, "Thursday, 28 March 2024"},
	} {
		if got := LongDate(tc.t, tc.lang); got != tc.want {
			t.Errorf("LongDate(%v, %s) = %q, want %q", tc.t, tc.lang, got, tc.want)
		}
	}
	if got, want := DateTime(time.Date(2024, 3, 28, 8, 5, 0, 0, hcm), Vietnamese), "Thứ Năm, ngày 28 tháng 3 năm 2024, 08:05 (GMT+7)"; got != want {
		t.Errorf("DateTime = %q, want %q", got, want)
	}
	if got, want := DateTime(time.Date(2024, 3, 28, 0, 0, 0, 0, hcm), Vietnamese), "Thứ Năm, ngày 28 tháng 3 năm 2024"; got != want {
		t.Errorf("DateTime at midnight = %q, want the day alone %q", got, want)
	}
}
