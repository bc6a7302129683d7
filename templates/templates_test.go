package templates

import (
	"bytes"
	htmltemplate "html/template"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func funcs() htmltemplate.FuncMap {
	return htmltemplate.FuncMap{
		"rfc3339":     func(t time.Time) string { return t.Format(time.RFC3339) },
		"trustedHTML": func(s string) htmltemplate.HTML { return htmltemplate.HTML(s) },
	}
}

func TestOverrideFromDisk(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	override := `{{define "x"}}{{end}}<p>Trang riêng của tòa soạn: {{.}}</p>`
	if err := os.WriteFile(filepath.Join(dir, "web", "notfound.html"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := Load(dir, funcs())
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if err := set.RenderPage(&buf, "notfound.html", "<b>"); err != nil {
		t.Fatal(err)
	}
	if got := buf.String(); got != "<p>Trang riêng của tòa soạn: &lt;b&gt;</p>" {
		t.Errorf("overridden page = %q", got)
	}
}

func TestBrokenOverrideFailsLoad(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "web", "article.html"), []byte(`{{if}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Load(dir, funcs())
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "web", "article.html")) {
		t.Errorf("a broken override: error %v; want one naming the file", err)
	}
}

func TestRenderPageRefusesPaths(t *testing.T) {
	set, err := Load("", funcs())
	if err != nil {
		t.Fatal(err)
	}
	if err := set.RenderPage(&bytes.Buffer{}, "../templates.go", nil); err == nil {
		t.Error("a template name with a path was rendered")
	}
}
