package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"
)

// fileData is what the strict pass makes of one config file: the values,
// typed and checked, for viper's file layer, and the line of every key.
type fileData struct {
	path   string
	values map[string]any
	lines  map[string]int
	// covered are keys a problem of the file explains, such as the key
	// "shedule" was a typo of: a later "schedule is missing" is not said.
	covered []string
	// broken is set when the file could not be read as a whole (invalid
	// YAML, a second document, no mapping at the top, too many aliases):
	// its values are then not to be used. Otherwise the values hold every
	// key found right, and the problems name the others.
	broken bool
}

// maxNodes bounds the work of walking a file, so that aliases nested into
// aliases (a "billion laughs" file) cannot make Load run for ever.
const maxNodes = 100000

var (
	durationType = reflect.TypeFor[time.Duration]()
	yamlLineRE   = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)
	daysRE       = regexp.MustCompile(`^\s*(\d+)\s*d(ays?)?\s*$`)
)

// parseFile decodes data strictly against Config: every key must be known
// and every value of the right type. It never converts loosely.
func parseFile(path string, data []byte) (*fileData, problems) {
	fd := &fileData{path: path, values: map[string]any{}, lines: map[string]int{}}
	w := &walker{file: path, lines: fd.lines, budget: maxNodes}

	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err != nil {
		if errors.Is(err, io.EOF) {
			return fd, nil // an empty file: defaults only
		}
		w.probs.add(yamlProblem(path, err))
		fd.broken = true
		return fd, w.probs
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err == nil {
		w.probs.add(Problem{File: path, Line: extra.Line,
			Message: "a second YAML document starts here",
			Fix:     `keep the whole config in one document: remove the "---" line`})
		fd.broken = true
		return fd, w.probs
	} else if !errors.Is(err, io.EOF) {
		w.probs.add(yamlProblem(path, err))
		fd.broken = true
		return fd, w.probs
	}

	root := &doc
	if root.Kind == yaml.DocumentNode {
		if len(root.Content) == 0 {
			return fd, nil
		}
		root = root.Content[0]
	}
	root = w.deref(root)
	if root == nil || isNull(root) {
		return fd, nil
	}
	if root.Kind != yaml.MappingNode {
		w.probs.add(Problem{File: path, Line: root.Line,
			Message: "the config is " + describe(root) + ", not a mapping of keys",
			Fix:     "start with top-level keys such as \"site:\"; see config/bantin.example.yaml"})
		fd.broken = true
		return fd, w.probs
	}
	fd.values = w.mapping(root, reflect.TypeFor[Config](), "")
	// The alias budget spent leaves values out without a problem of
	// their own: nothing of the file can be trusted then.
	fd.broken = w.budget <= 0
	fd.covered = w.covered
	applyItemDefaults(fd.values)
	return fd, w.probs
}

// yamlProblem turns a YAML syntax error into a Problem with its line.
func yamlProblem(path string, err error) Problem {
	msg := err.Error()
	p := Problem{File: path, Message: "invalid YAML: " + strings.TrimPrefix(msg, "yaml: "),
		Fix: "check the indentation (spaces, not tabs) and quote values that contain \": \" or start with a special character"}
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		p.Line, _ = strconv.Atoi(m[1])
		p.Message = "invalid YAML: " + m[2]
	}
	return p
}

// walker checks YAML nodes against Go types found by reflection over the
// yaml tags of Config, recording the line of each key and every problem.
type walker struct {
	file   string
	lines  map[string]int
	probs  problems
	budget int
	// covered are the keys that a typo of theirs left unset.
	covered []string
}

// deref follows aliases and counts the node against the budget. It returns
// nil once the budget is spent (the problem is recorded once).
func (w *walker) deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	w.budget--
	if w.budget == 0 {
		w.probs.add(Problem{File: w.file, Message: "the file expands to too many values",
			Fix: "use fewer aliases (*name)"})
	}
	if w.budget <= 0 {
		return nil
	}
	return n
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null"
}

// mapping walks a mapping node against struct type t and returns its keys
// and typed values. Null values are left out, so that the default applies.
func (w *walker) mapping(n *yaml.Node, t reflect.Type, path string) map[string]any {
	fields := fieldsOf(t)
	out := map[string]any{}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if k.Kind != yaml.ScalarNode {
			w.probs.add(Problem{File: w.file, Line: k.Line, Key: path,
				Message: fmt.Sprintf("%s has %s as a key", orTop(path), describe(k)),
				Fix:     "keys are plain names such as \"title\""})
			continue
		}
		if k.ShortTag() == "!!merge" {
			w.probs.add(Problem{File: w.file, Line: k.Line, Key: path,
				Message: "merge keys (<<) are not supported",
				Fix:     "write the keys out in full"})
			continue
		}
		name := k.Value
		key := joinKey(path, name)
		if first, dup := seen[name]; dup {
			w.probs.add(Problem{File: w.file, Line: k.Line, Key: key,
				Message: fmt.Sprintf("key %s appears twice (first at line %d)", key, first),
				Fix:     "keep one of them"})
			continue
		}
		seen[name] = k.Line
		ft, ok := fields[name]
		if !ok {
			fix, meant := suggest(path, name, t)
			w.probs.add(Problem{File: w.file, Line: k.Line, Key: key,
				Message: "unknown key " + key,
				Fix:     fix})
			if meant != "" {
				// The key meant is then missing: that is this problem,
				// not another.
				w.covered = append(w.covered, meant)
			}
			continue
		}
		w.lines[key] = k.Line
		if val, ok := w.value(v, ft, key); ok {
			out[name] = val
		}
	}
	return out
}

// value walks node n against type t. ok is false for a null (use the
// default) and after a problem.
func (w *walker) value(n *yaml.Node, t reflect.Type, key string) (any, bool) {
	line := n.Line
	n = w.deref(n)
	if n == nil || isNull(n) {
		return nil, false
	}
	switch {
	case t.Kind() == reflect.Struct:
		if n.Kind != yaml.MappingNode {
			w.typeProblem(line, key, "a mapping of keys", n, "write the keys of "+key+" indented below it, one \"name: value\" a line")
			return nil, false
		}
		return w.mapping(n, t, key), true
	case t.Kind() == reflect.Slice:
		return w.sequence(n, t, key, line)
	default:
		return w.scalar(n, t, key, line)
	}
}

// sequence walks a list of scalars or of mappings.
func (w *walker) sequence(n *yaml.Node, t reflect.Type, key string, line int) (any, bool) {
	elem := t.Elem()
	if n.Kind != yaml.SequenceNode {
		fix := "start each item on its own line with \"- \""
		if n.Kind == yaml.ScalarNode && elem.Kind() != reflect.Struct {
			fix = fmt.Sprintf("write a list: [%s], or one \"- item\" a line", n.Value)
		}
		w.typeProblem(line, key, "a list", n, fix)
		return nil, false
	}
	out := make([]any, 0, len(n.Content))
	ok := true
	for i, item := range n.Content {
		ikey := fmt.Sprintf("%s[%d]", key, i)
		iline := item.Line
		w.lines[ikey] = iline
		item = w.deref(item)
		if item == nil {
			return nil, false
		}
		if isNull(item) {
			w.typeProblem(iline, ikey, expected(elem), item, "remove the empty \"-\" line")
			ok = false
			continue
		}
		if elem.Kind() == reflect.Struct {
			if item.Kind != yaml.MappingNode {
				w.typeProblem(iline, ikey, "an item of keys", item, "write the item's keys after \"- \", one \"name: value\" a line")
				ok = false
				continue
			}
			out = append(out, w.mapping(item, elem, ikey))
			continue
		}
		v, vok := w.scalar(item, elem, ikey, iline)
		if !vok {
			ok = false
			continue
		}
		out = append(out, v)
	}
	return out, ok
}

// scalar checks one scalar against a string, bool, int, float or duration.
func (w *walker) scalar(n *yaml.Node, t reflect.Type, key string, line int) (any, bool) {
	if n.Kind != yaml.ScalarNode {
		w.typeProblem(line, key, expected(t), n, "write a single value on the line of the key")
		return nil, false
	}
	tag := n.ShortTag()
	switch {
	case t == durationType:
		if tag != "!!str" {
			fix := "write a number with a unit (s, m, h), such as \"30m\" or \"168h\""
			if tag == "!!int" {
				fix = fmt.Sprintf("add a unit: \"%[1]ss\", \"%[1]sm\" or \"%[1]sh\"", n.Value)
			}
			w.typeProblem(line, key, expected(t), n, fix)
			return nil, false
		}
		d, err := time.ParseDuration(n.Value)
		if err != nil {
			w.typeProblem(line, key, expected(t), n, durationFix(n.Value))
			return nil, false
		}
		return d, true
	case t == byteSizeType:
		if tag != "!!str" && tag != "!!int" {
			w.typeProblem(line, key, expected(t), n, byteSizeFix)
			return nil, false
		}
		b, err := ParseByteSize(n.Value)
		if err != nil {
			w.typeProblem(line, key, expected(t), n, byteSizeFix)
			return nil, false
		}
		return b, true
	case t.Kind() == reflect.String:
		// Numbers and booleans are kept as written ("port: 0025" stays
		// "0025"), so a password of digits is never altered.
		return n.Value, true
	case t.Kind() == reflect.Bool:
		var b bool
		if tag != "!!bool" || n.Decode(&b) != nil {
			fix := "write true or false, without quotes"
			switch strings.ToLower(n.Value) {
			case "yes", "no", "on", "off", "y", "n":
				fix = fmt.Sprintf("write true or false (YAML 1.2 reads %s as text)", n.Value)
			}
			w.typeProblem(line, key, expected(t), n, fix)
			return nil, false
		}
		return b, true
	case t.Kind() == reflect.Int:
		var i int
		if tag != "!!int" || n.Decode(&i) != nil {
			w.typeProblem(line, key, expected(t), n, intFix(n))
			return nil, false
		}
		return i, true
	case t.Kind() == reflect.Float64:
		var f float64
		if (tag != "!!int" && tag != "!!float") || n.Decode(&f) != nil {
			w.typeProblem(line, key, expected(t), n, "write a number without quotes, such as 10 or 0.5")
			return nil, false
		}
		return f, true
	}
	// Only reachable if Config gains a field of a kind this walker does not
	// know; the test that loads the example file catches that.
	w.probs.add(Problem{File: w.file, Line: line, Key: key,
		Message: fmt.Sprintf("%s: internal error: no check for Go type %s", key, t)})
	return nil, false
}

func (w *walker) typeProblem(line int, key, want string, got *yaml.Node, fix string) {
	w.probs.add(Problem{File: w.file, Line: line, Key: key,
		Message: fmt.Sprintf("%s must be %s, not %s", key, want, describe(got)),
		Fix:     fix})
}

func intFix(n *yaml.Node) string {
	if n.Kind == yaml.ScalarNode {
		if f, err := strconv.ParseFloat(n.Value, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			if n.ShortTag() == "!!str" && f == math.Trunc(f) {
				return "remove the quotes: " + n.Value
			}
			if lo, hi := math.Floor(f), math.Ceil(f); lo != hi && math.Abs(f) < 1e15 {
				return fmt.Sprintf("write a whole number without a decimal point, such as %.0f or %.0f", lo, hi)
			}
		}
	}
	return "write a whole number without quotes, such as 50"
}

func durationFix(s string) string {
	if m := daysRE.FindStringSubmatch(s); m != nil {
		if days, err := strconv.Atoi(m[1]); err == nil && days < 1e6 {
			return fmt.Sprintf("write \"%dh\": durations have no day unit (1 day is 24h)", days*24)
		}
	}
	return "write a number with a unit (s, m, h), such as \"30m\" or \"168h\""
}

// expected says in words what a value of type t looks like.
func expected(t reflect.Type) string {
	switch {
	case t == durationType:
		return "a duration such as \"30m\" or \"168h\""
	case t == byteSizeType:
		return byteSizeExpected()
	case t.Kind() == reflect.String:
		return "a text value"
	case t.Kind() == reflect.Bool:
		return "true or false"
	case t.Kind() == reflect.Int:
		return "a whole number"
	case t.Kind() == reflect.Float64:
		return "a number"
	case t.Kind() == reflect.Struct:
		return "a mapping of keys"
	case t.Kind() == reflect.Slice:
		return "a list"
	}
	return t.String()
}

// describe says in words what the admin wrote.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!null":
			return "empty"
		case "!!str":
			return fmt.Sprintf("the text %q", n.Value)
		case "!!int", "!!float":
			return "the number " + n.Value
		case "!!bool":
			return n.Value
		}
		return strconv.Quote(n.Value)
	}
	return "something else"
}

func joinKey(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

func orTop(path string) string {
	if path == "" {
		return "the top level"
	}
	return path
}

// fieldsOf maps the yaml key names of struct t to their field types.
func fieldsOf(t reflect.Type) map[string]reflect.Type {
	out := map[string]reflect.Type{}
	for _, f := range reflect.VisibleFields(t) {
		if name := yamlName(f); name != "" {
			out[name] = f.Type
		}
	}
	return out
}

// yamlName is the key of a struct field, "" for fields that are no key.
func yamlName(f reflect.StructField) string {
	if !f.IsExported() {
		return ""
	}
	name, _, _ := strings.Cut(f.Tag.Get("yaml"), ",")
	if name == "-" {
		return ""
	}
	return name
}

// keyInfo is one key of Config found by reflection.
type keyInfo struct {
	path string // "mail.smtp.port"; list items as "newsletters[].id"
	typ  reflect.Type
}

// allKeys lists every key of t, depth first in field order: structs, and
// each scalar or list below them. List items appear as path[].field.
func allKeys(t reflect.Type, prefix string) []keyInfo {
	var out []keyInfo
	for _, f := range reflect.VisibleFields(t) {
		name := yamlName(f)
		if name == "" {
			continue
		}
		path := joinKey(prefix, name)
		out = append(out, keyInfo{path: path, typ: f.Type})
		switch {
		case f.Type.Kind() == reflect.Struct:
			out = append(out, allKeys(f.Type, path)...)
		case f.Type.Kind() == reflect.Slice && f.Type.Elem().Kind() == reflect.Struct:
			out = append(out, allKeys(f.Type.Elem(), path+"[]")...)
		}
	}
	return out
}

// suggest proposes the known key nearest to an unknown one: first among its
// siblings, else anywhere outside lists ("items" at the top → feeds.items).
// It returns the fix and the key proposed ("" for none).
func suggest(path, name string, t reflect.Type) (fix, key string) {
	const none = "remove it; config/bantin.example.yaml lists every key"
	lower := strings.ToLower(name)
	best, bestD := "", math.MaxInt
	for _, f := range reflect.VisibleFields(t) {
		cand := yamlName(f)
		if cand == "" {
			continue
		}
		if d := editDistance(lower, cand); d < bestD {
			best, bestD = cand, d
		}
	}
	if best != "" && bestD <= closeEnough(name) {
		return "did you mean " + joinKey(path, best) + "?", joinKey(path, best)
	}
	best, bestD = "", math.MaxInt
	for _, k := range allKeys(reflect.TypeFor[Config](), "") {
		if strings.Contains(k.path, "[]") || k.path == path || strings.HasPrefix(path, k.path+".") {
			continue
		}
		last := k.path[strings.LastIndexByte(k.path, '.')+1:]
		if d := editDistance(lower, last); d < bestD {
			best, bestD = k.path, d
		}
	}
	if best != "" && bestD <= closeEnough(name) {
		return "did you mean " + best + "?", best
	}
	return none, ""
}

// closeEnough is the largest edit distance still taken for a typo.
func closeEnough(name string) int {
	switch n := len(name); {
	case n <= 4:
		return 1
	case n <= 10:
		return 2
	default:
		return 3
	}
}

// editDistance is the optimal string alignment distance of a and b:
// insertions, deletions, substitutions and swaps of neighbours cost 1, so
// "itmes" is 1 away from "items".
func editDistance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	if len(ra) > 64 || len(rb) > 64 {
		return math.MaxInt // not a typo of any key
	}
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// applyItemDefaults fills in the defaults of newsletter and source items
// that leave a key out. It works on the file's values, before layering,
// because viper's defaults cannot reach into lists.
func applyItemDefaults(values map[string]any) {
	if list, ok := values["newsletters"].([]any); ok {
		for _, item := range list {
			m, ok := item.(map[string]any)
			if !ok {
				continue
			}
			setIfMissing(m, "max_articles", defaultMaxArticles)
			setIfMissing(m, "max_age", defaultMaxAge)
			setIfMissing(m, "template", defaultTemplate)
			setIfMissing(m, "subject", defaultSubject)
		}
	}
	if ingest, ok := values["ingest"].(map[string]any); ok {
		if list, ok := ingest["sources"].([]any); ok {
			for _, item := range list {
				m, ok := item.(map[string]any)
				if !ok {
					continue
				}
				setIfMissing(m, "interval", defaultSourceInterval)
				setIfMissing(m, "enabled", defaultSourceEnabled)
			}
		}
	}
}

func setIfMissing(m map[string]any, key string, v any) {
	if _, ok := m[key]; !ok {
		m[key] = v
	}
}
