package mail

import (
	"bufio"
	"bytes"
	"context"
	"math/rand/v2"
	"net/mail"
	"net/textproto"
	"strings"
	"testing"
)

// dotWriterBytes is what textproto's dot writer sends for data: the
// stuffed data and the end of data.
func dotWriterBytes(t *testing.T, data []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	bw := bufio.NewWriter(&buf)
	dw := textproto.NewWriter(bw).DotWriter()
	if _, err := dw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := dw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestAppendStuffedAsDotWriter: for CRLF text with dots anywhere (first
// byte, line starts, lines of dots only, the last line), appendStuffed
// gives the bytes textproto's dot writer does.
func TestAppendStuffedAsDotWriter(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	cases := []string{"", ".", "..", ".a\r\n", "a\r\n.\r\nb", "a\r\n..\r\n.", "\r\n.\r\n.\r\n"}
	for range 2000 {
		var b strings.Builder
		for range rng.IntN(8) {
			for range rng.IntN(5) {
				b.WriteByte(".a ."[rng.IntN(4)])
			}
			b.WriteString("\r\n")
		}
		cases = append(cases, b.String())
	}
	for _, c := range cases {
		data := []byte(c + "\r\n") // writeData's data ends with CRLF
		want := dotWriterBytes(t, data)
		got := append(appendStuffed(nil, data[:len(data)-2]), "\r\n.\r\n"...)
		if !bytes.Equal(got, want) {
			t.Fatalf("%q stuffed to %q, want %q", c, got, want)
		}
	}
}

// TestSMTPDataOnWire: a relay gets, between DATA and the end of data, the
// bytes textproto's dot writer would send: with no line starting with a
// dot (the body in one write), with some, and with the first byte a dot.
func TestSMTPDataOnWire(t *testing.T) {
	r, st := startLineRelayTransport(t, true)
	body := strings.Repeat("dòng thường, không dấu chấm đầu dòng\r\n", 2000) // past bufio's 4 KiB
	raws := []string{
		"Subject: a\r\n\r\n" + body,
		"Subject: b\r\n\r\n.đầu\r\n" + body + "..\r\n.\r\ngiữa\r\n.",
		".Subject: c\r\n\r\n" + body, // a dot first and nowhere else
	}
	var msgs []Message
	for i, raw := range raws {
		msgs = append(msgs, Message{From: mail.Address{Address: "news@example.vn"}, To: mail.Address{Address: "a@example.com"},
			MessageID: strings.Repeat("x", i+1) + "@example.vn", Raw: []byte(raw)})
	}
	for i, res := range st.Send(context.Background(), msgs) {
		if res.Status != Sent {
			t.Fatalf("message %d: %+v", i, res)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.data) != len(raws) {
		t.Fatalf("relay got %d messages, want %d", len(r.data), len(raws))
	}
	for i, raw := range raws {
		if !strings.HasSuffix(raw, "\r\n") {
			raw += "\r\n" // as writeData ends it
		}
		want := dotWriterBytes(t, []byte(raw))
		want = want[:len(want)-3] // the relay keeps what comes before ".\r\n"
		if got := r.data[i]; got != string(want) {
			t.Errorf("message %d: relay got %d bytes, want %d as the dot writer sends them", i, len(got), len(want))
		}
	}
}
