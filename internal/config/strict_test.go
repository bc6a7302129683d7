package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// TestLoadStrictFile checks the problems of a file: each line of want is one
// problem, with FILE standing for the file's path.
func TestLoadStrictFile(t *testing.T) {
	tests := []struct {
		name string
		file string
		want string
	}{
		{
			name: "typo with suggestion and line",
			file: "# comment\n\nsite:\n  title: x\n\nfeeds:\n  itmes: 10\n",
			want: "FILE:7: unknown key feeds.itmes; did you mean feeds.items?",
		},
		{
			name: "top-level typo",
			file: "newsleters: []\n",
			want: "FILE:1: unknown key newsleters; did you mean newsletters?",
		},
		{
			name: "key at the wrong level",
			file: "site:\n  title: x\nitems: 5\n",
			want: "FILE:3: unknown key items; did you mean feeds.items?",
		},
		{
			name: "dash for underscore",
			file: "site:\n  base-url: https://x.vn\n",
			want: "FILE:2: unknown key site.base-url; did you mean site.base_url?",
		},
		{
			name: "unknown key in a list item",
			file: "newsletters:\n  - id: a\n    shedule: \"0 6 * * *\"\n",
			want: "FILE:3: unknown key newsletters[0].shedule; did you mean newsletters[0].schedule?",
		},
		{
			name: "unknown key without suggestion",
			file: "zzzzzzzz: 1\n",
			want: "FILE:1: unknown key zzzzzzzz; remove it; config/bantin.example.yaml lists every key",
		},
		{
			name: "float for int",
			file: "feeds:\n  items: 12.7\n",
			want: "FILE:2: feeds.items must be a whole number, not the number 12.7; write a whole number without a decimal point, such as 12 or 13",
		},
		{
			name: "quoted number for int",
			file: "feeds:\n  items: \"50\"\n",
			want: `FILE:2: feeds.items must be a whole number, not the text "50"; remove the quotes: 50`,
		},
		{
			name: "string for bool",
			file: "feeds:\n  full_content: \"true\"\n",
			want: `FILE:2: feeds.full_content must be true or false, not the text "true"; write true or false, without quotes`,
		},
		{
			name: "yes for bool",
			file: "subscribe:\n  double_opt_in: yes\n",
			want: `FILE:2: subscribe.double_opt_in must be true or false, not the text "yes"; write true or false (YAML 1.2 reads yes as text)`,
		},
		{
			name: "map where a list goes",
			file: "server:\n  trusted_proxies:\n    lan: 10.0.0.0/8\n",
			want: `FILE:3: server.trusted_proxies must be a list, not a mapping; start each item on its own line with "- "`,
		},
		{
			name: "scalar where a list goes",
			file: "feeds:\n  websub_hubs: https://hub.example.org/\n",
			want: `FILE:2: feeds.websub_hubs must be a list, not the text "https://hub.example.org/"; write a list: [https://hub.example.org/], or one "- item" a line`,
		},
		{
			name: "map where list of items goes",
			file: "newsletters:\n  id: daily\n",
			want: `FILE:2: newsletters must be a list, not a mapping; start each item on its own line with "- "`,
		},
		{
			name: "list where a section goes",
			file: "site:\n  - title: x\n",
			want: `FILE:2: site must be a mapping of keys, not a list; write the keys of site indented below it, one "name: value" a line`,
		},
		{
			name: "map where a scalar goes",
			file: "site:\n  title:\n    vi: Bản tin\n",
			want: `FILE:3: site.title must be a text value, not a mapping; write a single value on the line of the key`,
		},
		{
			name: "days for duration",
			file: "subscribe:\n  confirm_ttl: 7d\n",
			want: `FILE:2: subscribe.confirm_ttl must be a duration such as "30m" or "168h", not the text "7d"; write "168h": durations have no day unit (1 day is 24h)`,
		},
		{
			name: "number for duration",
			file: "ingest:\n  sources:\n    - name: a\n      url: https://a.vn/rss\n      interval: 30\n",
			want: `FILE:5: ingest.sources[0].interval must be a duration such as "30m" or "168h", not the number 30; add a unit: "30s", "30m" or "30h"`,
		},
		{
			name: "bad duration text",
			file: "newsletters:\n  - id: a\n    schedule: \"0 6 * * *\"\n    max_age: soon\n",
			want: `FILE:4: newsletters[0].max_age must be a duration such as "30m" or "168h", not the text "soon"; write a number with a unit (s, m, h), such as "30m" or "168h"`,
		},
		{
			name: "text for float",
			file: "mail:\n  smtp:\n    rate: fast\n",
			want: `FILE:3: mail.smtp.rate must be a number, not the text "fast"; write a number without quotes, such as 10 or 0.5`,
		},
		{
			name: "duplicate key",
			file: "feeds:\n  items: 5\n  items: 6\n",
			want: `FILE:3: key feeds.items appears twice (first at line 2); keep one of them`,
		},
		{
			name: "empty list item",
			file: "categories:\n  -\n",
			want: `FILE:2: categories[0] must be a mapping of keys, not empty; remove the empty "-" line`,
		},
		{
			name: "merge key",
			file: "base: &b {items: 5}\nfeeds:\n  <<: *b\n",
			want: "FILE:1: unknown key base; remove it; config/bantin.example.yaml lists every key\n" +
				"FILE:3: merge keys (<<) are not supported; write the keys out in full",
		},
		{
			name: "top level not a mapping",
			file: "- a\n- b\n",
			want: `FILE:1: the config is a list, not a mapping of keys; start with top-level keys such as "site:"; see config/bantin.example.yaml`,
		},
		{
			name: "two documents",
			file: "site: {title: a}\n---\nsite: {title: b}\n",
			want: `FILE:2: a second YAML document starts here; keep the whole config in one document: remove the "---" line`,
		},
		{
			name: "yaml syntax error",
			file: "site:\n  title: a\n   description: b\n",
			want: `FILE:3: invalid YAML: mapping values are not allowed in this context; check the indentation (spaces, not tabs) and quote values that contain ": " or start with a special character`,
		},
		{
			name: "every problem is reported",
			file: "feeds:\n  items: 1.5\n  full_content: 1\nlog:\n  levle: info\n",
			want: "FILE:2: feeds.items must be a whole number, not the number 1.5; write a whole number without a decimal point, such as 1 or 2\n" +
				"FILE:3: feeds.full_content must be true or false, not the number 1; write true or false, without quotes\n" +
				"FILE:5: unknown key log.levle; did you mean log.level?",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeConfig(t, tt.file)
			cfg, err := Load(LoadOptions{Path: path, LookupEnv: envOf(nil)})
			if err == nil {
				t.Fatalf("Load() = %+v, want error", cfg)
			}
			var cerr *Error
			if !errors.As(err, &cerr) {
				t.Fatalf("Load() error type %T, want *Error", err)
			}
			want := strings.ReplaceAll(tt.want, "FILE", path)
			if diff := cmp.Diff(want, err.Error()); diff != "" {
				t.Errorf("Load() error mismatch (-want +got):\n%s", diff)
			}
			for _, p := range cerr.Problems {
				if p.File != path || p.Line == 0 {
					t.Errorf("problem %q: File %q Line %d, want %q and a line", p.Message, p.File, p.Line, path)
				}
			}
		})
	}
}

func TestLoadStrictProblemFields(t *testing.T) {
	path := writeConfig(t, "feeds:\n  itmes: 10\n")
	_, err := Load(LoadOptions{Path: path, LookupEnv: envOf(nil)})
	var cerr *Error
	if !errors.As(err, &cerr) {
		t.Fatalf("Load() error = %v, want *Error", err)
	}
	want := []Problem{{File: path, Line: 2, Key: "feeds.itmes", Message: "unknown key feeds.itmes", Fix: "did you mean feeds.items?"}}
	if diff := cmp.Diff(want, cerr.Problems); diff != "" {
		t.Errorf("Problems mismatch (-want +got):\n%s", diff)
	}
}

func TestLoadStrictAccepts(t *testing.T) {
	tests := []struct {
		name string
		file string
		want func(c *Config)
	}{
		{"number kept as text", "mail:\n  smtp:\n    password: 0012\n", func(c *Config) { c.Mail.SMTP.Password = "0012" }},
		{"hex int", "feeds:\n  items: 0x10\n", func(c *Config) { c.Feeds.Items = 16 }},
		{"int for float", "mail:\n  smtp:\n    rate: 3\n", func(c *Config) { c.Mail.SMTP.Rate = 3 }},
		{"null keeps default", "feeds:\n  items: ~\n  full_content:\n", func(c *Config) {}},
		{"alias", "site:\n  title: &t Bản tin\n  description: *t\n", func(c *Config) { c.Site.Title = "Bản tin"; c.Site.Description = "Bản tin" }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := loadString(t, tt.file, nil)
			if err != nil {
				t.Fatalf("Load() error = %v", err)
			}
			want := wantDefaults()
			tt.want(want)
			want.Path = got.Path
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("Load() mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

func TestLoadStrictAliasBomb(t *testing.T) {
	// 2,000 newsletters each naming an alias of 2,000 categories: a small
	// file that expands to 4 million values. The walk must stop early.
	var b strings.Builder
	b.WriteString("server:\n  trusted_proxies: &many [")
	for i := range 2000 {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("x")
	}
	b.WriteString("]\nnewsletters:\n")
	for i := range 2000 {
		fmt.Fprintf(&b, "  - {id: n%d, schedule: \"@daily\", categories: *many}\n", i)
	}
	start := time.Now()
	_, err := loadString(t, b.String(), nil)
	if err == nil || !strings.Contains(err.Error(), "too many values") {
		t.Errorf("Load() error = %v, want \"too many values\"", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Load() took %v, want it to stop early", d)
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{
		{"items", "items", 0},
		{"itmes", "items", 1},
		{"item", "items", 1},
		{"base-url", "base_url", 1},
		{"", "abc", 3},
		{"kitten", "sitting", 3},
	}
	for _, tt := range tests {
		t.Run(tt.a+"/"+tt.b, func(t *testing.T) {
			if got := editDistance(tt.a, tt.b); got != tt.want {
				t.Errorf("editDistance(%q, %q) = %d, want %d", tt.a, tt.b, got, tt.want)
			}
		})
	}
}
