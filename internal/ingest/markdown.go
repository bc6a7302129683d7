package ingest

import (
	"errors"
	"io"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/bantin/bantin/internal/article"
)

// frontMatterHelp is the error for a .md file that does not start with
// front matter: it shows what one looks like.
const frontMatterHelp = `a .md article starts with YAML front matter: a first line "---", ` +
	`then at least "title: …" (and any other key of the JSON form), then a line "---"`

// Known keys, for the error about an unknown one.
const (
	inputKeys = "id, title, url, published_at, updated_at, author, categories, summary, " +
		"content_html, content_markdown, image"
	imageKeys = "url, caption, type, length"
)

// ParseMarkdown reads an article from a Markdown file: YAML front matter
// with the keys of the JSON form (SPEC §5) between a first line "---" and
// the next "---" line, then the Markdown body, which becomes
// ContentMarkdown as written (it is rendered later, on ingest). Unknown keys
// and values of the wrong type are errors; dates, even unquoted YAML
// timestamps, come through as the text written.
//
// Every error is a *LineError with the line of the file at fault.
func ParseMarkdown(data []byte) (article.Input, error) {
	text, err := decodeText(data)
	if err != nil {
		return article.Input{}, err
	}
	lines := strings.Split(text, "\n")
	if !isFence(lines[0]) {
		return article.Input{}, &LineError{Line: 1, Reason: frontMatterHelp}
	}
	end := -1
	for i := 1; i < len(lines); i++ {
		if isFence(lines[i]) {
			end = i
			break
		}
	}
	if end < 0 {
		return article.Input{}, &LineError{Line: 1, Reason: `front matter is not closed: no "---" line after the first`}
	}

	// Decoding straight into article.Input keeps an unquoted timestamp
	// such as published_at: 2024-03-28T08:00:00+07:00 as written: yaml.v3
	// sets a string field to the scalar's text, not to a reformatted time.
	// KnownFields makes a misspelt key an error instead of a lost value.
	var in article.Input
	dec := yaml.NewDecoder(strings.NewReader(strings.Join(lines[1:end], "\n") + "\n"))
	dec.KnownFields(true)
	if err := dec.Decode(&in); err != nil && !errors.Is(err, io.EOF) {
		// Line 1 of the YAML is line 2 of the file.
		return article.Input{}, yamlLineError(err, 1)
	}
	if strings.TrimFunc(in.Title, isSpace) == "" {
		return article.Input{}, &LineError{Line: 1, Reason: "front matter has no title; " + frontMatterHelp}
	}

	// Drop the blank lines between the fence and the text, but keep the
	// first text line's indentation: in Markdown it means a code block.
	start := end + 1 // 0-based first line of the body
	for start < len(lines) && strings.TrimFunc(lines[start], isSpace) == "" {
		start++
	}
	if start < len(lines) {
		if in.ContentMarkdown != "" {
			return article.Input{}, &LineError{Line: start + 1,
				Reason: "the body repeats content_markdown from the front matter; keep one of them"}
		}
		in.ContentMarkdown = strings.TrimRightFunc(strings.Join(lines[start:], "\n"), isSpace)
	}
	return in, nil
}

// isFence reports whether line is a front matter delimiter, "---" with
// possibly trailing white space.
func isFence(line string) bool {
	return strings.TrimRightFunc(line, isSpace) == "---"
}

// yamlLineError turns an error of yaml.v3, whose messages carry "line N:"
// for the YAML text, into a LineError at the line of the file; offset is
// the number of file lines before the YAML text.
func yamlLineError(err error, offset int) error {
	msg := err.Error()
	var te *yaml.TypeError
	if errors.As(err, &te) && len(te.Errors) > 0 {
		msg = te.Errors[0] // the first problem, as for the rest of the file
	}
	msg = strings.TrimPrefix(msg, "yaml: ")
	line := 0
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		if n, after, ok := strings.Cut(rest, ":"); ok {
			if v, err := strconv.Atoi(n); err == nil {
				line, msg = v+offset, strings.TrimSpace(after)
			}
		}
	}
	if line == 0 {
		line = offset // the YAML as a whole: point at the opening fence
	}
	// yaml.v3 says "field foo not found in type article.Input".
	if f, ok := strings.CutPrefix(msg, "field "); ok {
		if name, typ, ok := strings.Cut(f, " not found in type "); ok {
			keys, where := inputKeys, ""
			if typ == "article.ImageInput" {
				keys, where = imageKeys, " in image"
			}
			msg = "unknown key " + strconv.Quote(name) + where + "; known keys: " + keys
		}
	}
	return &LineError{Line: line, Reason: "front matter: " + msg}
}
