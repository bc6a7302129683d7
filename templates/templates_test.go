package templates

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestOverrideFromDisk(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "web"), 0o755); err != nil {
		t.Fatal(err)
	}
	override := `{{define "x"}}{{end}}<p>Trang riêng của tòa soạn: {{.}}</p>`
	if err := os.WriteFile(filepath.Join(dir, "web", "notfound.html"), []byte(override), 0o644); err != nil {
		t.Fatal(err)
	}
	set, err := Load(dir)
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
	_, err := Load(dir)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "web", "article.html")) {
		t.Errorf("a broken override: error %v; want one naming the file", err)
	}
}

func TestRenderPageRefusesPaths(t *testing.T) {
	set, err := Load("")
	if err != nil {
		t.Fatal(err)
	}
	if err := set.RenderPage(&bytes.Buffer{}, "../templates.go", nil); err == nil {
		t.Error("a template name with a path was rendered")
	}
}
