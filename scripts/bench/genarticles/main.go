// Command genarticles writes N articles of the size of a real Vietnamese
// news page (about 4 KB of text, full HTML) as JSON Lines, for the import
// benchmark. The text is invented and varies per article, so that neither
// the store nor the sanitizer sees the same bytes twice.
package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

var words = strings.Fields(`công tác dân vận góp phần gắn kết củng cố niềm tin giữa nhân dân chính quyền
thành phố huyện xã phường đoàn cán bộ khảo sát thực hiện quyết định quy chế hệ thống chính trị
mặt trận tổ quốc các tổ chức xã hội phong trào thi đua yêu nước quần chúng cơ sở đẩy mạnh
chiều sâu đối thoại trực tiếp người đứng đầu cấp ủy địa bàn xây dựng vững mạnh trách nhiệm
đảng viên công chức viên chức chương trình phối hợp ban ngành thiết thực sức lan tỏa cộng đồng
dân cư mô hình điển hình tiêu biểu khéo nhân rộng cách làm hiệu quả lĩnh vực chăm lo đời sống
người dân phát biểu kết luận nhấn mạnh toàn diện phát huy sức mạnh điểm hay nông thôn mới
giảm nghèo chức năng vai trò đại diện bảo vệ quyền lợi ích hợp pháp chính đáng đoàn viên hội viên`)

var categories = []string{"Thời sự", "Dân vận", "Kinh tế", "Xã hội", "Văn hóa", "Giáo dục", "Pháp luật", "Thể thao"}

func sentence(r *rand.Rand, n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = words[r.IntN(len(words))]
	}
	s := strings.Join(parts, " ")
	first, size := utf8.DecodeRuneInString(s)
	return string(unicode.ToUpper(first)) + s[size:] + "."
}

func paragraph(r *rand.Rand, sentences int) string {
	parts := make([]string, sentences)
	for i := range parts {
		parts[i] = sentence(r, 12+r.IntN(14))
	}
	return strings.Join(parts, " ")
}

type image struct {
	URL     string `json:"url"`
	Caption string `json:"caption"`
	Type    string `json:"type"`
	Length  int    `json:"length"`
}

type input struct {
	ID          string   `json:"id"`
	Title       string   `json:"title"`
	URL         string   `json:"url"`
	PublishedAt string   `json:"published_at"`
	Author      string   `json:"author"`
	Categories  []string `json:"categories"`
	Summary     string   `json:"summary"`
	ContentHTML string   `json:"content_html"`
	Image       image    `json:"image"`
}

func main() {
	n := flag.Int("n", 100000, "number of articles")
	seed := flag.Uint64("seed", 1, "random seed")
	from := flag.String("start", "2024-01-01T06:00:00+07:00", "publication time of the first article (RFC 3339); the others follow 5 minutes apart")
	flag.Parse()
	start, err := time.Parse(time.RFC3339, *from)
	if err != nil {
		fmt.Fprintf(os.Stderr, "-start: %v\n", err)
		os.Exit(2)
	}
	r := rand.New(rand.NewPCG(*seed, 2))
	w := bufio.NewWriterSize(os.Stdout, 1<<20)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for i := range *n {
		lead := "(Baomau.vn) - " + paragraph(r, 3)
		var body strings.Builder
		fmt.Fprintf(&body, "<p><strong>%s</strong></p>\n", lead)
		for p := range 5 {
			fmt.Fprintf(&body, "<p>%s <a href=\"/tin/%d-%d.html\">Xem thêm</a></p>\n", paragraph(r, 4), i, p)
		}
		fmt.Fprintf(&body, "<figure><img src=\"/anh/%d.jpg\" alt=\"Ảnh minh họa\"><figcaption>%s</figcaption></figure>\n", i, sentence(r, 10))
		in := input{
			ID:          fmt.Sprintf("cms-%d", i),
			Title:       sentence(r, 10),
			URL:         fmt.Sprintf("https://baomau.vn/tin/%d.html", i),
			PublishedAt: start.Add(time.Duration(i) * 5 * time.Minute).Format(time.RFC3339),
			Author:      "Ngọc Nữ",
			Categories:  []string{categories[i%len(categories)]},
			Summary:     lead,
			ContentHTML: body.String(),
			Image:       image{URL: fmt.Sprintf("/anh/%d.jpg", i), Caption: "Ảnh minh họa", Type: "image/jpeg", Length: 48213},
		}
		if err := enc.Encode(in); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
	if err := w.Flush(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}
