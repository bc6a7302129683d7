package config

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"
)

// EnvPrefix starts the name of every environment variable that sets a key.
const EnvPrefix = "BANTIN_"

// defaultSearchPaths are tried in order when neither LoadOptions.Path nor
// $BANTIN_CONFIG names a file. These two are relative to the working
// directory; the relative paths inside a file are resolved as BaseDir says.
var defaultSearchPaths = []string{"config/bantin.yaml", "/etc/bantin/bantin.yaml"}

// LoadOptions says where Load finds the file and the environment.
type LoadOptions struct {
	// Path is the file named by --config; "" to search. A named file that
	// does not exist is an error.
	Path string
	// LookupEnv reads the environment; nil means os.LookupEnv. Tests pass
	// their own so they never depend on the real environment.
	LookupEnv func(string) (string, bool)
	// SearchPaths replaces the standard search, ./config/bantin.yaml then
	// /etc/bantin/bantin.yaml, when not nil; a non-nil empty slice searches
	// nowhere.
	SearchPaths []string
}

// Load builds the configuration from the defaults, then the file, then the
// environment, and validates it. The file is chosen as: opts.Path, else
// $BANTIN_CONFIG, else the first of the search paths that exists, else none
// (defaults only). Config.Path is the file used. Relative paths are resolved
// as BaseDir says.
//
// Every error is an *Error listing all problems found; an invalid
// configuration is never returned.
func Load(opts LoadOptions) (*Config, error) {
	cfg, err := Check(opts)
	if err != nil {
		return nil, err
	}
	return cfg, nil
}

// Check is Load for `bantin config check`: besides the *Error listing every
// problem (the file's unknown keys and wrong types, the environment's and
// the values' problems, all in one), it returns the configuration it could
// build, where each value found wrong is left at its default, so that more
// checks can run on it in the same pass. The configuration is nil only when
// the file could not be read or parsed at all.
func Check(opts LoadOptions) (*Config, error) {
	lookup := opts.LookupEnv
	if lookup == nil {
		lookup = os.LookupEnv
	}
	path, err := findFile(opts, lookup)
	if err != nil {
		return nil, err
	}

	o := &origin{file: path, lines: map[string]int{}, env: map[string]string{}}
	var probs problems
	var covered []string // keys whose problem the file's problems explain
	var file *fileData
	if path != "" {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, &Error{Err: fmt.Errorf("read config: %w", err),
				Problems: []Problem{{File: path, Message: "cannot read the config file: " + unwrapPathError(err),
					Fix: "check the path and its permissions"}}}
		}
		var fileProbs problems
		file, fileProbs = parseFile(path, data)
		if file.broken {
			return nil, fileProbs.err()
		}
		// Values that are wrong were left out, so their defaults apply
		// and the rest of the file is still checked.
		probs = append(probs, fileProbs...)
		covered = file.covered
		o.lines = file.lines
	}

	// A fresh viper for each load: no global state, and a reload sees
	// exactly the file and environment of that moment.
	v := viper.New()
	for _, k := range allKeys(reflect.TypeFor[Config](), "") {
		if isLeaf(k.typ) && !strings.Contains(k.path, "[]") {
			v.SetDefault(k.path, defaultValue(k.path))
		}
	}
	if file != nil {
		if err := v.MergeConfigMap(file.values); err != nil {
			return nil, &Error{Err: fmt.Errorf("layer config file %s: %w", path, err),
				Problems: []Problem{{File: path, Message: "cannot use the config file: " + err.Error()}}}
		}
	}
	probs = append(probs, applyEnv(v, lookup, o.env)...)

	var cfg Config
	if err := v.Unmarshal(&cfg, func(dc *mapstructure.DecoderConfig) {
		dc.TagName = "yaml"
		dc.ErrorUnused = true
	}); err != nil {
		// The strict pass has checked every value already, so this is a
		// bug rather than an admin's mistake; say so.
		return nil, &Error{Err: fmt.Errorf("decode config: %w", err),
			Problems: []Problem{{File: path, Message: "internal error decoding the config: " + err.Error()}}}
	}
	cfg.Path = path
	cfg.resolvePaths(o)
	cfg.resolve()
	if err := cfg.validate(o); err != nil {
		var verr *Error
		if errors.As(err, &verr) {
			probs = appendNew(probs, covered, verr.Problems)
		}
	}
	return &cfg, probs.err()
}

// appendNew adds to probs the problems of more whose key has none in probs
// yet, nor in covered: a value the strict pass refused was left at its
// default, and the default must not be reported again ("schedule is
// missing" after "schedule must be a text value", or after the typo
// "shedule").
func appendNew(probs problems, covered []string, more []Problem) problems {
	keys := slices.Clone(covered)
	for _, p := range probs {
		if p.Key != "" {
			keys = append(keys, p.Key)
		}
	}
	for _, p := range more {
		if p.Key != "" && coveredKey(keys, p.Key) {
			continue
		}
		probs = append(probs, p)
	}
	return probs
}

// coveredKey reports whether key is one of keys or held by one of them
// (newsletters[0] holds newsletters[0].schedule).
func coveredKey(keys []string, key string) bool {
	for _, k := range keys {
		if k == key || strings.HasPrefix(key, k+".") || strings.HasPrefix(key, k+"[") {
			return true
		}
	}
	return false
}

// findFile picks the config file; "" means none.
func findFile(opts LoadOptions, lookup func(string) (string, bool)) (string, error) {
	named, how := opts.Path, "--config"
	if named == "" {
		if p, ok := lookup(EnvPrefix + "CONFIG"); ok && p != "" {
			named, how = p, EnvPrefix+"CONFIG"
		}
	}
	if named != "" {
		fi, err := os.Stat(named)
		if err != nil {
			return "", &Error{Err: fmt.Errorf("config file %s: %w", named, err),
				Problems: []Problem{{File: named, Message: "config file named by " + how + ": " + unwrapPathError(err),
					Fix: "check the path, or leave " + how + " out to use the defaults"}}}
		}
		if fi.IsDir() {
			return "", &Error{Err: fmt.Errorf("config file %s: is a directory", named),
				Problems: []Problem{{File: named, Message: "config file named by " + how + " is a directory",
					Fix: "name the YAML file itself, such as " + named + "/bantin.yaml"}}}
		}
		return named, nil
	}
	search := opts.SearchPaths
	if search == nil {
		search = defaultSearchPaths
	}
	for _, p := range search {
		fi, err := os.Stat(p)
		switch {
		case err == nil && !fi.IsDir():
			return p, nil
		case err != nil && !errors.Is(err, fs.ErrNotExist):
			return "", &Error{Err: fmt.Errorf("config file %s: %w", p, err),
				Problems: []Problem{{File: p, Message: "cannot read the config file: " + unwrapPathError(err),
					Fix: "fix its permissions, or name another file with --config"}}}
		}
	}
	return "", nil
}

func unwrapPathError(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err.Error()
	}
	return err.Error()
}

// isLeaf reports whether keys of type t are set as a whole from a default
// or the environment: scalars and lists of scalars, not sections or lists
// of items.
func isLeaf(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Struct:
		return false
	case reflect.Slice:
		return t.Elem().Kind() != reflect.Struct
	}
	return true
}

// defaultValue returns the default of a leaf key from defaults().
func defaultValue(path string) any {
	v := reflect.ValueOf(defaults()).Elem()
	for _, name := range strings.Split(path, ".") {
		for _, f := range reflect.VisibleFields(v.Type()) {
			if yamlName(f) == name {
				v = v.FieldByIndex(f.Index)
				break
			}
		}
	}
	if v.Kind() == reflect.Slice && v.IsNil() {
		return []string{}
	}
	return v.Interface()
}

// envName is the variable that sets key: BANTIN_ + key in upper case, _ for ".".
func envName(key string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(key, ".", "_"))
}

// applyEnv reads the variable of every leaf key and puts the typed value in
// viper's top layer. Values are converted strictly: BANTIN_FEEDS_ITEMS=12.7
// is an error naming the variable. An empty variable counts as unset except
// for text keys, which it empties. Variables naming no key (BANTIN_CONFIG, BANTIN_TEST_*) are never
// read here, so they are not config.
func applyEnv(v *viper.Viper, lookup func(string) (string, bool), set map[string]string) problems {
	var probs problems
	for _, k := range allKeys(reflect.TypeFor[Config](), "") {
		if !isLeaf(k.typ) || strings.Contains(k.path, "[]") {
			continue
		}
		name := envName(k.path)
		raw, ok := lookup(name)
		// An empty variable leaves a number, flag or list at its default,
		// as in viper, but empties a text key: BANTIN_SERVER_ADMIN_TOKEN=
		// switches the admin API off whatever the file says.
		if !ok || (raw == "" && k.typ.Kind() != reflect.String) {
			continue
		}
		val, want, fix := parseEnv(raw, k.typ)
		if want != "" {
			probs.add(Problem{Key: k.path,
				Message: fmt.Sprintf("environment variable %s=%q: %s must be %s", name, raw, k.path, want),
				Fix:     fix})
			continue
		}
		// Set is viper's override layer, above the file and the defaults:
		// the environment wins, as it should.
		v.Set(k.path, val)
		set[k.path] = name
	}
	return probs
}

// parseEnv converts raw to the type of a key. On failure want says what was
// expected and fix what to write.
func parseEnv(raw string, t reflect.Type) (val any, want, fix string) {
	s := strings.TrimSpace(raw)
	switch {
	case t == durationType:
		d, err := time.ParseDuration(s)
		if err != nil {
			return nil, expected(t), durationFix(s)
		}
		return d, "", ""
	case t == byteSizeType:
		b, err := ParseByteSize(s)
		if err != nil {
			return nil, expected(t), byteSizeFix
		}
		return b, "", ""
	case t.Kind() == reflect.String:
		return raw, "", ""
	case t.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return nil, expected(t), "set it to true or false"
		}
		return b, "", ""
	case t.Kind() == reflect.Int:
		i, err := strconv.Atoi(s)
		if err != nil {
			fix := "set it to a whole number, such as 50"
			if f, ferr := strconv.ParseFloat(s, 64); ferr == nil && !math.IsInf(f, 0) && math.Abs(f) < 1e15 {
				fix = fmt.Sprintf("set it to a whole number without a decimal point, such as %.0f", math.Trunc(f))
			}
			return nil, expected(t), fix
		}
		return i, "", ""
	case t.Kind() == reflect.Float64:
		f, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, expected(t), "set it to a number, such as 10 or 0.5"
		}
		return f, "", ""
	case t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.String:
		var list []string
		for _, part := range strings.Split(raw, ",") {
			if part = strings.TrimSpace(part); part != "" {
				list = append(list, part)
			}
		}
		return list, "", ""
	}
	return nil, "a value this version cannot read from the environment", "set the key in the config file instead"
}
