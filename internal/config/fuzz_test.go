package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// FuzzLoad writes the input as the config file: Load must not panic, every
// error must be an *Error, and a config it returns must validate.
func FuzzLoad(f *testing.F) {
	if example, err := os.ReadFile(examplePath); err == nil {
		f.Add(example)
	}
	for _, seed := range []string{
		"",
		"feeds:\n  items: 12.7\n",
		"site: {timezone: Mars/Olympus}\n",
		"newsletters:\n  - id: a\n    schedule: \"0 6 * * *\"\n    max_age: 7d\n",
		"newsletters:\n  - &n {id: a, schedule: \"@daily\"}\n  - *n\n",
		"mail:\n  from: \"Bản tin <news@example.vn>\"\n  smtp: {rate: .nan}\n",
		"ingest:\n  sources:\n    - {name: a, url: \"https://a.vn/rss\", interval: -1s}\n",
		"a: &a [*a]\n",
		"- [\n",
	} {
		f.Add([]byte(seed))
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		path := filepath.Join(dir, "fuzz.yaml")
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, err := Load(LoadOptions{Path: path, LookupEnv: envOf(nil)})
		if err != nil {
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load() error %v is %T, want *Error", err, err)
			}
			if cfg != nil {
				t.Fatalf("Load() returned a config with error %v", err)
			}
			return
		}
		if err := cfg.Validate(); err != nil {
			t.Fatalf("Load() returned a config that does not validate: %v", err)
		}
	})
}
