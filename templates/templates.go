// Package templates holds bantin's page and email templates, embedded in
// the binary. An admin may override any file from disk (templates_dir):
// a file at the same relative path replaces the embedded one.
package templates

import (
	"bytes"
	"embed"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

//go:embed web/*.html
var embedded embed.FS

// Set is the parsed templates. It is parsed once at start: a missing or
// broken template stops the start, not the first request.
type Set struct {
	web *htmltemplate.Template
}

// Load parses the embedded templates, each replaced by the file of the same
// relative path under overrideDir when that file exists ("" for none).
func Load(overrideDir string, funcs htmltemplate.FuncMap) (*Set, error) {
	names, err := fs.Glob(embedded, "web/*.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	sort.Strings(names)
	web := htmltemplate.New("web").Funcs(funcs)
	for _, name := range names {
		text, from, err := read(overrideDir, name)
		if err != nil {
			return nil, err
		}
		if _, err := web.New(filepath.Base(name)).Parse(string(text)); err != nil {
			return nil, fmt.Errorf("templates: parse %s: %w", from, err)
		}
	}
	return &Set{web: web}, nil
}

// read returns a template's text from the override folder or the binary.
func read(overrideDir, name string) ([]byte, string, error) {
	if overrideDir != "" {
		path := filepath.Join(overrideDir, filepath.FromSlash(name))
		text, err := os.ReadFile(path)
		if err == nil {
			return text, path, nil
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return nil, path, fmt.Errorf("templates: read override %s: %w", path, err)
		}
	}
	text, err := embedded.ReadFile(name)
	if err != nil {
		return nil, name, fmt.Errorf("templates: read embedded %s: %w", name, err)
	}
	return text, "embedded " + name, nil
}

// RenderPage executes the web template name ("article.html") into w. The
// page is rendered into memory first so that a failure midway sends no
// half page.
func (s *Set) RenderPage(w io.Writer, name string, data any) error {
	if strings.ContainsAny(name, `/\`) {
		return fmt.Errorf("render %s: not a template name", name)
	}
	var buf bytes.Buffer
	if err := s.web.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	_, err := buf.WriteTo(w)
	return err
}
