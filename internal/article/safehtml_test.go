package article

import (
	"net/url"
	"strings"
	"testing"

	"golang.org/x/net/html"
)

// hostileBodies are bodies the fast path must refuse or get right.
var hostileBodies = []string{
	"<p><strong>(Baomau.vn) - Công tác dân vận.</strong></p>\n<p>Một hai <a href=\"/tin/1-2.html\">Xem thêm</a></p>\n<figure><img src=\"/anh/1.jpg\" alt=\"Ảnh minh họa\"><figcaption>Chú thích.</figcaption></figure>\n",
	`<p>a<br>b<hr></p><ul><li>x</li></ul><blockquote>q</blockquote><h2>t</h2>`,
	`<a href="https://baomau.vn/a?x=1#y">x</a><a href="//khac.vn/b">y</a><img src="anh.jpg">`,
	`<a href="javascript:alert(1)">x</a>`,
	`<a href="JAVASCRIPT:alert(1)">x</a>`,
	`<a href="java%0ascript:alert(1)">x</a>`,
	`<a href="mailto:a@b.vn">x</a>`,
	`<a href="data:text/html,x">x</a>`,
	`<a href="vbscript:x">x</a>`,
	`<a href="HTTP://baomau.vn">x</a>`,
	`<a href="/a%zz">x</a>`,
	`<a href="/a" onclick="x()">x</a>`,
	`<a href='/a'>x</a>`,
	`<a href=/a>x</a>`,
	`<a>x</a>`,
	`<a href="/a"/>`,
	`<img src="/a.jpg" onerror="x()">`,
	`<img src="/a.jpg" alt="x" onerror="y()">`,
	`<img alt="x" src="/a.jpg">`,
	`<img src="/a.jpg"/>`,
	`<img src="/a.jpg" alt="a"b">`,
	`<p onclick="x">a</p>`,
	`<P>a</P>`,
	`<script>alert(1)</script>`,
	`<style>p{}</style>`,
	`<p>a &amp; b &lt;c&gt;</p>`,
	`<p>"trích" 'dẫn'</p>`,
	"<p>a\rb</p>",
	`<p>a > b</p>`,
	`<p>a < b</p>`,
	`<!-- c --><p>x</p>`,
	`<![CDATA[x]]>`,
	`<textarea><p>x</p></textarea>`,
	`<iframe src="/x"></iframe>`,
	`<p>x</div></div>`,
	`<details open><p>x</p>`,
	`<br/>`,
	`</br>`,
	`<p/>`,
	`< p>x</p>`,
	`<p >x</p>`,
	`</p >`,
	`<a href="/a">x</a >`,
	`<img src="/a.jpg" alt="">`,
	`<img src="" alt="x">`,
	`<a href="">x</a>`,
	`<a href="/a b">x</a>`,
	`<a href="/a&#x3a;b">x</a>`,
	`<a href="?q=1">x</a><a href="#top">y</a><a href="./a">z</a><a href="../b">w</a>`,
	`<a href="https://">x</a><a href="http:x">y</a><a href="https:/x">z</a>`,
}

// FuzzSafeForms holds the fast path of sanitizeHTML to the policy: HTML it
// passes untouched is what bluemonday writes for it, byte for byte.
func FuzzSafeForms(f *testing.F) {
	for _, s := range hostileBodies {
		f.Add(s)
	}
	n := testNormalizer(f)
	f.Fuzz(func(t *testing.T, s string) {
		clean := cleanText(s)
		if !n.safe.unchanged(clean) {
			return
		}
		if got := n.policy.Sanitize(clean); got != clean {
			t.Fatalf("fast path keeps %q; the policy writes %q", clean, got)
		}
	})
}

// TestSafeFormsTakeArticleBodies checks the probe found the forms CMS
// bodies are made of (else the fuzz target proves nothing and imports
// pay the policy for every article), and that what the fast path keeps
// and refuses comes out of sanitizeHTML as the policy alone made it.
func TestSafeFormsTakeArticleBodies(t *testing.T) {
	n := testNormalizer(t)
	for _, name := range []string{"p", "strong", "em", "figure", "figcaption", "li", "blockquote", "h2"} {
		if !n.safe.plain[name] {
			t.Errorf("<%s> is not a safe form", name)
		}
	}
	if !n.safe.link || !n.safe.image || !n.safe.void["br"] {
		t.Errorf("links %v, images %v, <br> %v: want all safe forms", n.safe.link, n.safe.image, n.safe.void["br"])
	}
	slow := testNormalizer(t)
	slow.safe = &safeForms{}
	for i, s := range hostileBodies {
		clean := cleanText(s)
		fast := n.safe.unchanged(clean)
		if i < 3 && !fast {
			t.Errorf("fast path refuses %q, an article body of safe forms", s)
		}
		if fast {
			if got := n.policy.Sanitize(clean); got != clean {
				t.Errorf("fast path keeps %q; the policy writes %q", clean, got)
			}
		}
		if got, want := n.sanitizeHTML(n.base, s), slow.sanitizeHTML(n.base, s); got != want {
			t.Errorf("sanitizeHTML(%q) = %q; without the fast path %q", s, got, want)
		}
		for _, bad := range []string{"javascript:", "onclick", "onerror", "<script", "vbscript:", "data:"} {
			if out := strings.ToLower(n.sanitizeHTML(n.base, s)); strings.Contains(out, bad) {
				t.Errorf("sanitizeHTML(%q) keeps %q: %q", s, bad, out)
			}
		}
	}
}

// TestSafeFormsEveryByte puts each byte value in the text, in a tag's
// attribute and in an image's alt of a safe body: the fast path keeps
// only what the policy writes back as it is, and keeps the plain letters
// and the bytes of a Vietnamese letter.
func TestSafeFormsEveryByte(t *testing.T) {
	n := testNormalizer(t)
	for c := range 256 {
		b := string([]byte{byte(c)})
		for _, s := range []string{"<p>a" + b + "b</p>", `<a href="/a` + b + `b">x</a>`, `<img src="/a.jpg" alt="a` + b + `b">`, b + "<br>"} {
			clean := cleanText(s)
			if !n.safe.unchanged(clean) {
				continue
			}
			if got := n.policy.Sanitize(clean); got != clean {
				t.Errorf("byte %#x: fast path keeps %q; the policy writes %q", c, clean, got)
			}
		}
	}
	for _, s := range []string{"<p>a b</p>", "<p>Công tác dân vận.</p>", "<p>a, b; c: d (e) [f] 1/2 = 50% - ok?</p>"} {
		if !n.safe.unchanged(s) {
			t.Errorf("fast path refuses %q", s)
		}
	}
}

// resolveAttrSlow is resolveAttr without its shortcut for plain paths.
func resolveAttrSlow(base *url.URL, escaped string) string {
	value := html.UnescapeString(escaped)
	if u, err := url.Parse(value); err == nil && !u.IsAbs() {
		value = base.ResolveReference(u).String()
	}
	return html.EscapeString(value)
}

var resolveBases = []string{"https://baomau.vn", "https://baomau.vn/tin/a/b.html?x=1#y", "http://baomau.vn:8080/", "https://u:p@baomau.vn/", "https://xn--bo-mu-4ta.vn/a/", "https://[::1]:8443/a"}

// TestResolveAttrPlainPaths compares resolveAttr with url.URL's resolution
// on paths near the shortcut's edges.
func TestResolveAttrPlainPaths(t *testing.T) {
	for _, b := range resolveBases {
		base, err := url.Parse(b)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range []string{"/tin/1-2.html", "/anh/1.jpg", "/", "//khac.vn/a", "/a//b", "/a/./b", "/a/../b", "/a/.", "/a/..", "/.well-known/x",
			"/a.b/c..d", "/a~b_c", "/a?b", "/a#b", "/a%20b", "/a&amp;b", "/Ảnh", "/a b", "a/b", "../a", "", "/a/", "/a.", "/a..b/"} {
			if got, want := resolveAttr(base, v), resolveAttrSlow(base, v); got != want {
				t.Errorf("base %s: resolveAttr(%q) = %q, want %q", b, v, got, want)
			}
		}
	}
}

// FuzzResolveAttr holds resolveAttr's shortcut to url.URL's resolution.
func FuzzResolveAttr(f *testing.F) {
	for i, v := range []string{"/tin/1-2.html", "/a/./b", "//x", "/a.b/c"} {
		f.Add(i%len(resolveBases), v)
	}
	f.Fuzz(func(t *testing.T, i int, v string) {
		if i < 0 {
			i = -i
		}
		base, err := url.Parse(resolveBases[i%len(resolveBases)])
		if err != nil {
			t.Fatal(err)
		}
		if got, want := resolveAttr(base, v), resolveAttrSlow(base, v); got != want {
			t.Fatalf("base %s: resolveAttr(%q) = %q, want %q", base, v, got, want)
		}
	})
}

// resolveURLsEach is resolveURLs searching both attributes afresh each
// round, as it did before it kept their places.
func resolveURLsEach(base *url.URL, s string) string {
	var b strings.Builder
	for {
		start, attr := -1, ""
		for _, a := range []string{` href="`, ` src="`} {
			if i := strings.Index(s, a); i >= 0 && (start < 0 || i < start) {
				start, attr = i, a
			}
		}
		if start < 0 {
			b.WriteString(s)
			return b.String()
		}
		valueStart := start + len(attr)
		end := strings.IndexByte(s[valueStart:], '"')
		if end < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:valueStart])
		b.WriteString(resolveAttrSlow(base, s[valueStart:valueStart+end]))
		s = s[valueStart+end:]
	}
}

// FuzzResolveURLs holds resolveURLs to the search it replaced.
func FuzzResolveURLs(f *testing.F) {
	for _, s := range append(hostileBodies, ` href=" src="/a" href="b"`, `<a href="/x"><img src="y.jpg" alt=" href="> src="z`, ` src=" href="`) {
		f.Add(s)
	}
	base, err := url.Parse("https://baomau.vn/tin/a.html")
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := resolveURLs(base, s), resolveURLsEach(base, s); got != want {
			t.Fatalf("resolveURLs(%q) = %q, want %q", s, got, want)
		}
	})
}
