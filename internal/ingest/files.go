package ingest

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/bantin/bantin/internal/article"
)

// Format is the kind of an input file.
type Format int

// The input formats of SPEC §5.
const (
	FormatUnknown  Format = iota
	FormatJSON            // one article object, or an array of them
	FormatJSONL           // one article object a line
	FormatMarkdown        // YAML front matter and a Markdown body
	FormatPage            // a printed page in the seed's shape
	formatBroken          // a record standing for input that could not be read
)

// Limits on what one file may hold.
const (
	maxFileBytes = 256 << 20 // a .json, .md or .txt file is read whole
	maxLineBytes = 16 << 20  // one .jsonl line
)

// FormatOf returns the format a file name implies.
func FormatOf(path string) Format {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".json":
		return FormatJSON
	case ".jsonl", ".ndjson":
		return FormatJSONL
	case ".md", ".markdown":
		return FormatMarkdown
	case ".txt":
		return FormatPage
	}
	return FormatUnknown
}

// Ignored reports whether a file in a watched or imported folder is left
// alone: hidden files, editors' and downloaders' temporary files.
func Ignored(name string) bool {
	base := filepath.Base(name)
	return strings.HasPrefix(base, ".") || strings.HasSuffix(base, "~") ||
		strings.HasSuffix(base, ".tmp") || strings.HasSuffix(base, ".part") || strings.HasSuffix(base, ".swp")
}

// parseRecord turns one raw record into an Input.
func parseRecord(r record, loc *time.Location) (article.Input, error) {
	switch r.format {
	case FormatJSON, FormatJSONL:
		return DecodeJSON(r.data)
	case FormatMarkdown:
		return ParseMarkdown(r.data)
	case FormatPage:
		return ParsePage(r.data, loc)
	case formatBroken:
		return article.Input{}, errors.New(string(r.data))
	}
	return article.Input{}, fmt.Errorf("unknown format")
}

// DecodeJSON decodes one article object strictly: an unknown key or a
// value of the wrong type names the field.
func DecodeJSON(data []byte) (article.Input, error) {
	if in, ok := decodeJSONFast(data); ok {
		return in, nil
	}
	return decodeJSONSlow(data)
}

// decodeJSONSlow is encoding/json's reading of one article object, for
// everything decodeJSONFast leaves to it.
func decodeJSONSlow(data []byte) (article.Input, error) {
	var in article.Input
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&in); err != nil {
		return article.Input{}, jsonError(err)
	}
	if dec.More() {
		return article.Input{}, errors.New("more than one JSON value; one article object expected")
	}
	return in, nil
}

// jsonError rewords encoding/json errors for the person who wrote the input.
func jsonError(err error) error {
	var typeErr *json.UnmarshalTypeError
	var syntaxErr *json.SyntaxError
	switch {
	case errors.As(err, &typeErr):
		if typeErr.Field == "" {
			return fmt.Errorf("expected an article object, found a JSON %s", typeErr.Value)
		}
		return &article.FieldError{Field: typeErr.Field, Reason: fmt.Sprintf("is a JSON %s; expected %s", typeErr.Value, jsonKind(typeErr.Type.String()))}
	case errors.As(err, &syntaxErr):
		return fmt.Errorf("not valid JSON: %s (at byte %d)", strings.TrimPrefix(syntaxErr.Error(), "json: "), syntaxErr.Offset)
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(err.Error(), "json: unknown field "), `"`)
		return &article.FieldError{Field: field, Reason: "unknown key; the keys are id, title, url, published_at, updated_at, author, categories, summary, content_html, content_markdown, image"}
	case errors.Is(err, io.EOF):
		return errors.New("empty input; expected an article object")
	}
	return fmt.Errorf("not valid JSON: %s", strings.TrimPrefix(err.Error(), "json: "))
}

func jsonKind(goType string) string {
	switch {
	case goType == "string":
		return "a string"
	case strings.HasPrefix(goType, "[]"):
		return "an array of strings"
	case strings.HasPrefix(goType, "int"):
		return "a whole number"
	}
	return "an object"
}

// Paths produces the records of files, folders (recursively, in name order,
// skipping hidden and temporary files) and "-" for stdin, as `bantin ingest`
// reads them: see Files.
func Paths(paths []string, stdin io.Reader, category string) func(context.Context, func(record) error) error {
	return Files(FilesOptions{Paths: paths, Stdin: stdin, Category: category})
}

// FilesOptions says which files an import reads and how.
type FilesOptions struct {
	// Paths are files, folders and "-" for standard input.
	Paths []string
	Stdin io.Reader
	// Category is added to every article (bantin ingest --category).
	Category string
	// Watched says the paths are in a watched folder, written by anyone
	// who may write there: a symbolic link among them is skipped as in a
	// folder walk. Otherwise the paths are the admin's own and a
	// symbolic link given by name is followed.
	Watched bool
	// Skipped is told each file left out of a folder because it is not a
	// regular file (a named pipe, device or socket, or, when Watched, a
	// symbolic link), and why; nil for none.
	Skipped func(path, reason string)
}

// Files produces the records of opts.Paths. Only regular files are read:
// a named pipe would block the import (and the stop) until someone wrote
// to it, and a device would be read forever. In a watched folder a
// symbolic link is not followed either: it would publish a file from
// outside the folder. Inside a folder such a file is skipped and told to
// Skipped; named on its own it is rejected. Nothing is opened in a way
// that can block.
func Files(opts FilesOptions) func(context.Context, func(record) error) error {
	skipped := opts.Skipped
	if skipped == nil {
		skipped = func(string, string) {}
	}
	category := opts.Category
	return func(ctx context.Context, emitRecord func(record) error) error {
		// A file adds categories to an article, never takes one away.
		emit := func(r record) error {
			r.keepCategories = true
			return emitRecord(r)
		}
		for _, p := range opts.Paths {
			if err := ctx.Err(); err != nil {
				return err
			}
			if p == "-" && !opts.Watched {
				if err := readStdin(opts.Stdin, category, emit); err != nil {
					return err
				}
				continue
			}
			stat := os.Stat
			if opts.Watched {
				stat = os.Lstat
			}
			info, err := stat(p)
			if err != nil {
				if err := emit(broken(p, 0, fmt.Sprintf("cannot read: %v", unwrapPathError(err)), category)); err != nil {
					return err
				}
				continue
			}
			if !info.IsDir() {
				if why := notRegular(info.Mode()); why != "" {
					if opts.Watched {
						skipped(p, why)
						continue
					}
					if err := emit(broken(p, 0, why+"; only regular files are read (pipe a stream to -)", category)); err != nil {
						return err
					}
					continue
				}
				if err := readFile(p, category, !opts.Watched, skipped, emit); err != nil {
					return err
				}
				continue
			}
			root := p
			if l, err := os.Lstat(p); err == nil && l.Mode()&fs.ModeSymlink != 0 && !opts.Watched {
				// A link to a folder, named by the admin: WalkDir walks
				// a root that ends in a separator through the link.
				root = p + string(filepath.Separator)
			}
			err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return emit(broken(path, 0, fmt.Sprintf("cannot read: %v", unwrapPathError(err)), category))
				}
				if err := ctx.Err(); err != nil {
					return err
				}
				if path != root && Ignored(path) {
					if d.IsDir() {
						return filepath.SkipDir
					}
					return nil
				}
				if d.IsDir() || FormatOf(path) == FormatUnknown {
					return nil
				}
				// The walk does not follow symbolic links: d's type is
				// the entry's own. In the admin's own folder a link to a
				// regular file is read, as it always was; in a watched
				// folder it would publish a file from outside it.
				mode, follow := d.Type(), false
				if mode&fs.ModeSymlink != 0 && !opts.Watched {
					if target, err := os.Stat(path); err == nil && target.Mode().IsRegular() {
						mode, follow = target.Mode(), true
					}
				}
				if why := notRegular(mode); why != "" {
					skipped(path, why)
					return nil
				}
				return readFile(path, category, follow, skipped, emit)
			})
			if err != nil {
				return err
			}
		}
		return nil
	}
}

// notRegular says why a file of this mode is not read ("" for a regular
// file).
func notRegular(mode fs.FileMode) string {
	switch {
	case mode.IsRegular():
		return ""
	case mode&fs.ModeSymlink != 0:
		return "a symbolic link"
	case mode&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		return "a socket"
	case mode&fs.ModeDevice != 0:
		return "a device"
	case mode.IsDir():
		return "a folder"
	}
	return "not a regular file"
}

func broken(path string, line int, reason, category string) record {
	return record{format: formatBroken, data: []byte(reason), origin: Origin{Path: path, Line: line}, category: category}
}

func unwrapPathError(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// readFile emits the records of one file. Problems with the file become
// rejected records; only emit's error stops the import. follow opens a
// symbolic link's target (a path the admin named); otherwise a file that
// became a link since it was listed is skipped. The file is checked
// again once open, as it may have been swapped for a pipe or a device
// since it was listed: it is opened without blocking, and read only when
// it is a regular file.
func readFile(path, category string, follow bool, skipped func(path, reason string), emit func(record) error) error {
	format := FormatOf(path)
	if format == FormatUnknown {
		return emit(broken(path, 0, "unknown file type; use .json, .jsonl, .md or .txt", category))
	}
	f, err := openRegular(path, follow)
	var nr *notRegularError
	if errors.As(err, &nr) {
		skipped(path, nr.what)
		return nil
	}
	if err != nil {
		return emit(broken(path, 0, fmt.Sprintf("cannot read: %v", unwrapPathError(err)), category))
	}
	defer f.Close()
	return readFormat(f, path, format, category, emit)
}

// notRegularError is a file not read because it is not a regular file;
// what names what it is instead.
type notRegularError struct{ path, what string }

func (e *notRegularError) Error() string { return e.path + ": " + e.what }

// openRegular opens path for reading only when it is a regular file,
// without ever waiting: O_NONBLOCK makes the open of a named pipe with no
// writer return at once, and the open file is checked with Fstat before a
// byte is read.
func openRegular(path string, follow bool) (*os.File, error) {
	f, err := openNonBlocking(path, follow)
	if err != nil {
		if isSymlinkLoop(err) {
			return nil, &notRegularError{path, "a symbolic link"}
		}
		return nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("stat %s: %w", path, err)
	}
	if why := notRegular(info.Mode()); why != "" {
		f.Close()
		return nil, &notRegularError{path, why}
	}
	return f, nil
}

func readFormat(r io.Reader, path string, format Format, category string, emit func(record) error) error {
	if format == FormatJSONL {
		return readJSONLines(r, path, category, emit)
	}
	data, err := io.ReadAll(io.LimitReader(r, maxFileBytes+1))
	if err != nil {
		return emit(broken(path, 0, fmt.Sprintf("cannot read: %v", unwrapPathError(err)), category))
	}
	if len(data) > maxFileBytes {
		return emit(broken(path, 0, fmt.Sprintf("larger than %d MiB; split it or use .jsonl", maxFileBytes>>20), category))
	}
	if format == FormatJSON {
		return readJSONValues(data, path, category, emit)
	}
	return emit(record{format: format, data: data, origin: Origin{Path: path}, category: category})
}

// readJSONLines emits one record per non-blank line.
func readJSONLines(r io.Reader, path, category string, emit func(record) error) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), maxLineBytes)
	line := 0
	for sc.Scan() {
		line++
		text := bytes.TrimSpace(sc.Bytes())
		if line == 1 {
			text = bytes.TrimPrefix(text, []byte("\uFEFF"))
		}
		if len(text) == 0 {
			continue
		}
		data := make([]byte, len(text))
		copy(data, text)
		if err := emit(record{format: FormatJSONL, data: data, origin: Origin{Path: path, Line: line}, category: category}); err != nil {
			return err
		}
	}
	if err := sc.Err(); err != nil {
		reason := fmt.Sprintf("cannot read: %v", err)
		if errors.Is(err, bufio.ErrTooLong) {
			reason = fmt.Sprintf("line longer than %d MiB", maxLineBytes>>20)
		}
		return emit(broken(path, line+1, reason, category))
	}
	return nil
}

// readJSONValues emits each article of a .json file: one object, an array
// of objects, or several values in a row. Each record carries the line its
// value starts on.
func readJSONValues(data []byte, path, category string, emit func(record) error) error {
	data = bytes.TrimPrefix(data, []byte("\uFEFF"))
	lines := lineCounter{data: data, line: 1}
	dec := json.NewDecoder(bytes.NewReader(data))
	for {
		start := lines.skipSpace(int(dec.InputOffset()))
		if start >= len(data) {
			return nil
		}
		if data[start] == '[' {
			if _, err := dec.Token(); err != nil {
				return emit(broken(path, lines.at(start), jsonError(err).Error(), category))
			}
			for dec.More() {
				at := lines.skipSpace(int(dec.InputOffset()))
				// A comma may stand before the next element.
				if at < len(data) && data[at] == ',' {
					at = lines.skipSpace(at + 1)
				}
				var raw json.RawMessage
				if err := dec.Decode(&raw); err != nil {
					return emit(broken(path, lines.at(at), jsonError(err).Error(), category))
				}
				if err := emit(record{format: FormatJSON, data: raw, origin: Origin{Path: path, Line: lines.at(at)}, category: category}); err != nil {
					return err
				}
			}
			if _, err := dec.Token(); err != nil {
				return emit(broken(path, lines.at(int(dec.InputOffset())), jsonError(err).Error(), category))
			}
			continue
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			return emit(broken(path, lines.at(start), jsonError(err).Error(), category))
		}
		if err := emit(record{format: FormatJSON, data: raw, origin: Origin{Path: path, Line: lines.at(start)}, category: category}); err != nil {
			return err
		}
	}
}

// lineCounter maps byte offsets to line numbers, moving forward only.
type lineCounter struct {
	data   []byte
	offset int
	line   int
}

func (c *lineCounter) at(offset int) int {
	if offset > len(c.data) {
		offset = len(c.data)
	}
	if offset < c.offset {
		return c.line
	}
	c.line += bytes.Count(c.data[c.offset:offset], []byte{'\n'})
	c.offset = offset
	return c.line
}

func (c *lineCounter) skipSpace(offset int) int {
	for offset < len(c.data) {
		switch c.data[offset] {
		case ' ', '\t', '\r', '\n':
			offset++
			continue
		}
		break
	}
	return offset
}

// readStdin sniffs the format of standard input: an array or a
// pretty-printed object is JSON, one object a line is JSON Lines, front
// matter is Markdown, anything else a printed page.
func readStdin(stdin io.Reader, category string, emit func(record) error) error {
	br := bufio.NewReaderSize(stdin, 64<<10)
	head, _ := br.Peek(64 << 10)
	trimmed := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\uFEFF")), " \t\r\n")
	format := FormatPage
	switch {
	case bytes.HasPrefix(trimmed, []byte("[")):
		format = FormatJSON
	case bytes.HasPrefix(trimmed, []byte("{")):
		format = FormatJSON
		if nl := bytes.IndexByte(trimmed, '\n'); nl < 0 || json.Valid(bytes.TrimSpace(trimmed[:nl])) {
			format = FormatJSONL
		}
	case bytes.HasPrefix(trimmed, []byte("---")):
		format = FormatMarkdown
	}
	return readFormat(br, "-", format, category, emit)
}
