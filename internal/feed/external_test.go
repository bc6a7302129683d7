package feed

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// requireTool finds an external checker, or skips the test with the reason;
// under BANTIN_TEST_ALL=1 (CI) a missing tool fails it instead.
func requireTool(t *testing.T, name, install string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err == nil {
		return path
	}
	if os.Getenv("BANTIN_TEST_ALL") == "1" {
		t.Fatalf("%s is not installed (%s); BANTIN_TEST_ALL=1 makes that a failure", name, install)
	}
	t.Skipf("%s is not installed (%s)", name, install)
	return ""
}

// TestGoldenWellFormed checks every XML golden with xmllint.
func TestGoldenWellFormed(t *testing.T) {
	xmllint := requireTool(t, "xmllint", "apt-get install libxml2-utils")
	files, _ := filepath.Glob("testdata/*.xml")
	if len(files) == 0 {
		t.Fatal("no golden XML files")
	}
	for _, f := range files {
		if out, err := exec.Command(xmllint, "--noout", f).CombinedOutput(); err != nil {
			t.Errorf("%s is not well-formed: %v\n%s", f, err, out)
		}
	}
}

// TestGoldenFeedparser parses every golden with Python's feedparser, which
// many readers are built on: bozo must be 0 (no problem found) and it must
// see every entry with its title and id.
func TestGoldenFeedparser(t *testing.T) {
	// Debian's Python sees Debian's python3-feedparser; a python3 earlier
	// on the PATH (pyenv and the like) may not.
	python := "/usr/bin/python3"
	if _, err := os.Stat(python); err != nil {
		python = requireTool(t, "python3", "apt-get install python3")
	}
	if err := exec.Command(python, "-c", "import feedparser").Run(); err != nil {
		if os.Getenv("BANTIN_TEST_ALL") == "1" {
			t.Fatal("python3 cannot import feedparser (apt-get install python3-feedparser)")
		}
		t.Skip("python3 cannot import feedparser (apt-get install python3-feedparser)")
	}
	script := `
import sys, feedparser
for path in sys.argv[1:]:
    d = feedparser.parse(path)
    print(path, d.bozo, repr(d.get("bozo_exception", "")), len(d.entries),
          "|".join(e.get("id", "") + "=" + e.get("title", "") for e in d.entries))
`
	// feedparser reads JSON Feed only when served as JSON; the JSON
	// goldens are checked by gofeed and the JSON Feed rules instead.
	files, _ := filepath.Glob("testdata/*.xml")
	out, err := exec.Command(python, append([]string{"-c", script}, files...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("feedparser: %v\n%s", err, out)
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.SplitN(line, " ", 5)
		if len(fields) < 4 {
			t.Errorf("feedparser output %q", line)
			continue
		}
		if fields[1] != "0" && fields[1] != "False" {
			t.Errorf("%s: bozo %s %s", fields[0], fields[1], fields[2])
		}
		if strings.Contains(fields[0], "site.") && (fields[3] != "3" || !strings.Contains(line, "tag:baomau.vn,2024-12-22:hostile-controls=Tiêu đề có <b> & \"ngoặc\" ]]>")) {
			t.Errorf("%s: feedparser does not see the three entries with their ids and titles as text:\n%s", fields[0], line)
		}
	}
}
