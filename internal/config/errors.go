package config

import (
	"errors"
	"sort"
	"strconv"
	"strings"
)

// Error is every problem Load or Validate found, so that an admin fixes them
// all in one go. The CLI prints it and exits with status 2.
type Error struct {
	Problems []Problem
	// Err is the underlying cause when the file could not be read at all
	// (errors.Is(err, fs.ErrNotExist) works through Unwrap).
	Err error
}

// Error returns one problem a line.
func (e *Error) Error() string {
	lines := make([]string, 0, len(e.Problems))
	for _, p := range e.Problems {
		lines = append(lines, p.String())
	}
	if len(lines) == 0 && e.Err != nil {
		return "config: " + e.Err.Error()
	}
	return strings.Join(lines, "\n")
}

// Unwrap returns the underlying cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Problem is one thing wrong with the configuration.
type Problem struct {
	// File and Line say where the value was written; File is "" for a
	// default or an environment variable, Line is 0 when unknown.
	File string
	Line int
	// Key is the key path, with list items indexed from 0
	// ("newsletters[1].schedule"); "" for a problem with the file as a whole.
	Key string
	// Message says what is wrong; it names the key (and the environment
	// variable, when the value came from one).
	Message string
	// Fix says what to do about it.
	Fix string
}

// String formats the problem as "file:line: message; fix".
func (p Problem) String() string {
	var b strings.Builder
	if p.File != "" {
		b.WriteString(p.File)
		if p.Line > 0 {
			b.WriteByte(':')
			b.WriteString(strconv.Itoa(p.Line))
		}
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Fix != "" {
		b.WriteString("; ")
		b.WriteString(p.Fix)
	}
	return b.String()
}

// problems collects Problems; err returns nil when there are none.
type problems []Problem

func (ps *problems) add(p Problem) { *ps = append(*ps, p) }

func (ps problems) err() error {
	if len(ps) == 0 {
		return nil
	}
	return &Error{Problems: ps}
}

// Join makes one *Error of the problems of errs (each an *Error or nil),
// as `config check` reports them: every problem once (a problem whose key,
// or a key holding it, has one already is left out, so a bad value the
// loader named is not named again by a later check), those placed in the
// file in the order of their lines, then the others. An error of errs that
// is no *Error is returned as it is. Join returns nil when errs hold no
// problem.
func Join(errs ...error) error {
	var all problems
	for _, err := range errs {
		if err == nil {
			continue
		}
		var e *Error
		if !errors.As(err, &e) {
			return err
		}
		var keys []string
		for _, p := range all {
			if p.Key != "" {
				keys = append(keys, p.Key)
			}
		}
		for _, p := range e.Problems {
			if p.Key != "" && coveredKey(keys, p.Key) {
				continue
			}
			all = append(all, p)
		}
	}
	sort.SliceStable(all, func(i, j int) bool {
		a, b := all[i], all[j]
		if (a.Line > 0) != (b.Line > 0) {
			return a.Line > 0
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	return all.err()
}
