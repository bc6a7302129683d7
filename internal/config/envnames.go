package config

import (
	"math"
	"reflect"
	"sort"
	"strings"
)

// EnvWarnings returns one line for each BANTIN_* variable of environ
// ("NAME=value" entries, as os.Environ gives) that sets no key and is
// therefore ignored: a typo such as BANTIN_FEEDS_ITMES, with the variable
// of the nearest key, or a list of items (BANTIN_NEWSLETTERS), which only
// the file sets. BANTIN_CONFIG and BANTIN_TEST_* are not config and never
// named. The lines are sorted by variable.
func EnvWarnings(environ []string) []string {
	leaves := map[string]bool{}
	lists := map[string]string{} // variable → key, for lists of items and sections
	for _, k := range allKeys(reflect.TypeFor[Config](), "") {
		if strings.Contains(k.path, "[]") {
			continue
		}
		if isLeaf(k.typ) {
			leaves[envName(k.path)] = true
		} else {
			lists[envName(k.path)] = k.path
		}
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if !strings.HasPrefix(name, EnvPrefix) || leaves[name] || name == EnvPrefix+"CONFIG" ||
			strings.HasPrefix(name, EnvPrefix+"TEST_") {
			continue
		}
		if key, ok := lists[name]; ok {
			what := "a section of keys"
			if strings.HasSuffix(kindOf(key), "list") {
				what = "a list of items"
			}
			out = append(out, name+" is ignored: "+key+" is "+what+", set in the config file only")
			continue
		}
		line := name + " names no config key and is ignored"
		if near := nearestEnv(name, leaves); near != "" {
			line += "; did you mean " + near + "?"
		} else {
			line += "; config/bantin.example.yaml lists every key (BANTIN_ + the key in upper case, _ for .)"
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

// kindOf says whether key is a list of items or a section.
func kindOf(key string) string {
	for _, k := range allKeys(reflect.TypeFor[Config](), "") {
		if k.path == key && k.typ.Kind() == reflect.Slice {
			return "list"
		}
	}
	return "section"
}

// nearestEnv is the variable of leaves nearest to name, "" when none is
// near enough to be what was meant.
func nearestEnv(name string, leaves map[string]bool) string {
	got := strings.ToLower(strings.TrimPrefix(name, EnvPrefix))
	best, bestD := "", math.MaxInt
	for cand := range leaves {
		d := editDistance(got, strings.ToLower(strings.TrimPrefix(cand, EnvPrefix)))
		if d < bestD || (d == bestD && cand < best) {
			best, bestD = cand, d
		}
	}
	if best == "" || bestD > closeEnough(got) {
		return ""
	}
	return best
}
