package config

import (
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const examplePath = "../../config/bantin.example.yaml"

func loadExample(t *testing.T) *Config {
	t.Helper()
	cfg, err := Load(LoadOptions{Path: examplePath, LookupEnv: envOf(nil)})
	if err != nil {
		t.Fatalf("Load(%s) error = %v", examplePath, err)
	}
	return cfg
}

// TestExampleIsDefaults keeps the example honest: it loads strictly, and
// its values are the defaults.
func TestExampleIsDefaults(t *testing.T) {
	got := loadExample(t)
	want, err := Load(LoadOptions{LookupEnv: envOf(nil), SearchPaths: []string{}})
	if err != nil {
		t.Fatalf("Load() without file error = %v", err)
	}
	want.Path = examplePath
	// The example sits in a folder named config: its relative paths are
	// from the folder above, as ./config/bantin.yaml's are.
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	want.BaseDir = root
	want.Storage.DSN = filepath.Join(root, "data", "bantin.db")
	want.Mail.FileDir = filepath.Join(root, "data", "outbox")
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("example differs from the defaults (-defaults +example):\n%s", diff)
	}
}

// TestExampleDocumentsEveryKey checks that every key of Config is in the
// example: section and scalar keys as real keys (so they load), list item
// fields in the commented examples.
func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	fd, probs := parseFile(examplePath, data)
	if len(probs) > 0 {
		t.Fatalf("parseFile(%s): %v", examplePath, probs.err())
	}
	text := string(data)
	for _, k := range allKeys(reflect.TypeFor[Config](), "") {
		t.Run(k.path, func(t *testing.T) {
			if !strings.Contains(k.path, "[]") {
				if _, ok := fd.lines[k.path]; !ok {
					t.Errorf("key %s is not in %s", k.path, examplePath)
				}
				return
			}
			// A list item field: "#   - name:" or "#     name:" in a comment.
			name := k.path[strings.LastIndexByte(k.path, '.')+1:]
			re := regexp.MustCompile(`(?m)^\s*#\s*(- )?` + regexp.QuoteMeta(name) + `:`)
			if !re.MatchString(text) {
				t.Errorf("list item key %s is not in the commented examples of %s", k.path, examplePath)
			}
		})
	}
}

// TestExampleListItemsLoad uncomments the examples of list keys and checks
// that they load too, so the documentation cannot rot.
func TestExampleListItemsLoad(t *testing.T) {
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		switch strings.TrimSpace(line) {
		case "categories: []", "sources: []", "newsletters: []":
			continue // replaced by the uncommented example below them
		}
		for _, prefix := range []string{"# categories:", "#   ", "  # sources:", "  #   ", "# newsletters:"} {
			if strings.HasPrefix(line, prefix) {
				line = strings.Replace(line, "# ", "", 1)
				break
			}
		}
		out = append(out, line)
	}
	cfg, err := loadString(t, strings.Join(out, "\n"), nil)
	if err != nil {
		t.Fatalf("uncommented example: %v\n%s", err, strings.Join(out, "\n"))
	}
	if len(cfg.Categories) != 2 || len(cfg.Ingest.Sources) != 1 || len(cfg.Newsletters) != 1 {
		t.Fatalf("uncommented example has %d categories, %d sources, %d newsletters; want 2, 1, 1",
			len(cfg.Categories), len(cfg.Ingest.Sources), len(cfg.Newsletters))
	}
	n := cfg.Newsletters[0]
	if n.ID != "ban-tin-sang" || n.Title != "Bản tin sáng" || n.Schedule != "0 6 * * *" {
		t.Errorf("newsletter = %+v, want ban-tin-sang, Bản tin sáng, 0 6 * * *", n)
	}
}
