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
	"sync/atomic"
	texttemplate "text/template"
	"time"

	"github.com/bantin/bantin/internal/locale"
)

//go:embed web/*.html email/*.html email/*.txt
var embedded embed.FS

// Set is the parsed templates. It is parsed once at start: a missing or
// broken template stops the start, not the first request.
type Set struct {
	p atomic.Pointer[parsed]
}

// parsed is one parse of every template; Reload swaps it whole.
type parsed struct {
	web       *htmltemplate.Template
	emailHTML *htmltemplate.Template
	emailText *texttemplate.Template
}

// funcs are the functions page templates may call.
func funcs() htmltemplate.FuncMap {
	return htmltemplate.FuncMap{
		"rfc3339": func(t time.Time) string { return t.Format(time.RFC3339) },
		// trustedHTML marks article HTML as safe: it was sanitized with
		// bluemonday when it was stored, and only sanitized HTML is stored.
		"trustedHTML": func(s string) htmltemplate.HTML { return htmltemplate.HTML(s) },
	}
}

// Load parses the embedded templates, each replaced by the file of the same
// relative path under overrideDir when that file exists ("" for none).
func Load(overrideDir string) (*Set, error) {
	names, err := fs.Glob(embedded, "web/*.html")
	if err != nil {
		return nil, fmt.Errorf("templates: %w", err)
	}
	sort.Strings(names)
	web := htmltemplate.New("web").Funcs(funcs())
	for _, name := range names {
		text, from, err := read(overrideDir, name)
		if err != nil {
			return nil, err
		}
		if _, err := web.New(filepath.Base(name)).Parse(string(text)); err != nil {
			return nil, fmt.Errorf("templates: parse %s: %w", from, err)
		}
	}
	// Emails call the locale catalogue as {{t .Lang "email.hello"}}.
	ps := &parsed{web: web, emailHTML: htmltemplate.New("email").Funcs(htmltemplate.FuncMap{"t": locale.T}),
		emailText: texttemplate.New("email").Funcs(texttemplate.FuncMap{"t": locale.T})}
	if err := ps.loadEmail(overrideDir); err != nil {
		return nil, err
	}
	set := &Set{}
	set.p.Store(ps)
	return set, nil
}

// Swap puts the templates of next in place at once for every user of s
// (a reload: next was loaded and checked first).
func (s *Set) Swap(next *Set) {
	s.p.Store(next.p.Load())
}

// loadEmail parses the email templates: .html with html/template (every
// value escaped), .txt with text/template.
func (s *parsed) loadEmail(overrideDir string) error {
	names, err := fs.Glob(embedded, "email/*")
	if err != nil {
		return fmt.Errorf("templates: %w", err)
	}
	sort.Strings(names)
	for _, name := range names {
		text, from, err := read(overrideDir, name)
		if err != nil {
			return err
		}
		base := filepath.Base(name)
		if strings.HasSuffix(name, ".txt") {
			_, err = s.emailText.New(base).Parse(string(text))
		} else {
			_, err = s.emailHTML.New(base).Parse(string(text))
		}
		if err != nil {
			return fmt.Errorf("templates: parse %s: %w", from, err)
		}
	}
	return s.loadCustomEmail(overrideDir)
}

// loadCustomEmail parses the template sets of overrideDir/email that the
// binary does not have: a newsletter's template key names them.
func (s *parsed) loadCustomEmail(overrideDir string) error {
	if overrideDir == "" {
		return nil
	}
	paths, err := filepath.Glob(filepath.Join(overrideDir, "email", "*.*"))
	if err != nil {
		return fmt.Errorf("templates: %w", err)
	}
	sort.Strings(paths)
	for _, path := range paths {
		base := filepath.Base(path)
		ext := filepath.Ext(base)
		if (ext != ".html" && ext != ".txt") || s.emailHTML.Lookup(base) != nil || s.emailText.Lookup(base) != nil {
			continue
		}
		text, err := os.ReadFile(path)
		if err != nil {
			return fmt.Errorf("templates: read %s: %w", path, err)
		}
		if ext == ".txt" {
			_, err = s.emailText.New(base).Parse(string(text))
		} else {
			_, err = s.emailHTML.New(base).Parse(string(text))
		}
		if err != nil {
			return fmt.Errorf("templates: parse %s: %w", path, err)
		}
	}
	return nil
}

// HasEmail reports whether the email template set name (name.txt and
// name.html) exists.
func (s *Set) HasEmail(name string) bool {
	p := s.p.Load()
	return !strings.ContainsAny(name, `/\.`) && p.emailText.Lookup(name+".txt") != nil && p.emailHTML.Lookup(name+".html") != nil
}

// RenderEmail executes the email templates name.txt and name.html and
// returns the text and HTML parts.
func (s *Set) RenderEmail(name string, data any) (text, html string, err error) {
	if strings.ContainsAny(name, `/\.`) {
		return "", "", fmt.Errorf("render email %s: not a template name", name)
	}
	var tb, hb bytes.Buffer
	p := s.p.Load()
	if err := p.emailText.ExecuteTemplate(&tb, name+".txt", data); err != nil {
		return "", "", fmt.Errorf("render email %s.txt: %w", name, err)
	}
	if err := p.emailHTML.ExecuteTemplate(&hb, name+".html", data); err != nil {
		return "", "", fmt.Errorf("render email %s.html: %w", name, err)
	}
	return tb.String(), hb.String(), nil
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
	if err := s.p.Load().web.ExecuteTemplate(&buf, name, data); err != nil {
		return fmt.Errorf("render %s: %w", name, err)
	}
	_, err := buf.WriteTo(w)
	return err
}
