package main

import (
	"encoding/csv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// subscribersDir is a working folder with a config naming two newsletters.
func subscribersDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	config := `site:
  title: Báo Mẫu
  base_url: http://baomau.example
newsletters:
  - {id: ban-tin-sang, title: "Bản tin sáng", schedule: "0 6 * * *"}
  - {id: ban-tin-toi, title: "Bản tin tối", schedule: "0 18 * * *"}
mail:
  from: "Báo Mẫu <news@baomau.vn>"
`
	writeConfig(t, dir, config)
	return dir
}

// mustRun runs bantin and fails the test unless the exit status is want.
func mustRun(t *testing.T, dir string, want int, args ...string) (string, string) {
	t.Helper()
	code, out, errOut := bantin(t, dir, "", args...)
	if code != want {
		t.Fatalf("bantin %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), code, want, out, errOut)
	}
	return out, errOut
}

// emlFiles returns the contents of the .eml files under dir.
func emlFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) {
				return nil
			}
			return err
		}
		if !d.IsDir() && strings.HasSuffix(path, ".eml") {
			b, err := os.ReadFile(path)
			if err != nil {
				return err
			}
			out = append(out, string(b))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSubscribersAddListRemove(t *testing.T) {
	dir := subscribersDir(t)

	out, _ := mustRun(t, dir, 0, "subscribers", "add", "ban-tin-sang", "nu@example.vn", "--name", "Nguyễn Thị Nữ", "--confirmed")
	if !strings.Contains(out, "added nu@example.vn to ban-tin-sang (confirmed)") {
		t.Fatalf("add --confirmed: %s", out)
	}
	out, _ = mustRun(t, dir, 0, "subscribers", "add", "ban-tin-sang", "NU@example.vn", "--confirmed")
	if !strings.Contains(out, "already on ban-tin-sang") {
		t.Fatalf("add again: %s", out)
	}
	if n := len(emlFiles(t, filepath.Join(dir, "data", "outbox"))); n != 0 {
		t.Fatalf("add --confirmed wrote %d emails, want none", n)
	}
	out, _ = mustRun(t, dir, 0, "subscribers", "list", "ban-tin-sang")
	if !strings.Contains(out, "nu@example.vn") || !strings.Contains(out, "Nguyễn Thị Nữ") || !strings.Contains(out, "confirmed") {
		t.Fatalf("list: %s", out)
	}

	// Without --confirmed: pending, and the confirmation email leaves
	// at once as a .eml file.
	out, _ = mustRun(t, dir, 0, "subscribers", "add", "ban-tin-sang", "lan@example.vn", "--name", "Trần Lan")
	if !strings.Contains(out, "added lan@example.vn to ban-tin-sang (confirmation email sent)") {
		t.Fatalf("add: %s", out)
	}
	emails := emlFiles(t, filepath.Join(dir, "data", "outbox"))
	if len(emails) != 1 || !strings.Contains(emails[0], "/confirm/") || !strings.Contains(emails[0], "lan@example.vn") {
		t.Fatalf("want one confirmation email with a /confirm/ link, got %d:\n%s", len(emails), strings.Join(emails, "\n----\n"))
	}
	out, _ = mustRun(t, dir, 0, "subscribers", "list", "ban-tin-sang", "--status", "pending")
	if !strings.Contains(out, "lan@example.vn") || strings.Contains(out, "nu@example.vn") || !strings.Contains(out, "pending") {
		t.Fatalf("list --status pending: %s", out)
	}
	out, _ = mustRun(t, dir, 0, "subscribers", "list", "ban-tin-sang")
	if strings.Contains(out, "lan@example.vn") {
		t.Fatalf("a pending subscriber is listed as confirmed: %s", out)
	}
	mustRun(t, dir, 2, "subscribers", "list", "ban-tin-sang", "--status", "gone")

	// Bad address.
	_, errOut := mustRun(t, dir, 1, "subscribers", "add", "ban-tin-sang", "not-an-address")
	if !strings.Contains(errOut, "not an email address") {
		t.Fatalf("bad address: %s", errOut)
	}

	// remove.
	out, _ = mustRun(t, dir, 0, "subscribers", "remove", "ban-tin-sang", "nu@example.vn")
	if !strings.Contains(out, "removed nu@example.vn") {
		t.Fatalf("remove: %s", out)
	}
	out, _ = mustRun(t, dir, 0, "subscribers", "list", "ban-tin-sang")
	if strings.Contains(out, "nu@example.vn") {
		t.Fatalf("removed subscriber still listed: %s", out)
	}
	out, _ = mustRun(t, dir, 0, "subscribers", "list", "ban-tin-sang", "--status", "unsubscribed")
	if !strings.Contains(out, "nu@example.vn") {
		t.Fatalf("list --status unsubscribed: %s", out)
	}
	_, errOut = mustRun(t, dir, 1, "subscribers", "remove", "ban-tin-toi", "nu@example.vn")
	if !strings.Contains(errOut, "not on ban-tin-toi") {
		t.Fatalf("remove from a list they are not on: %s", errOut)
	}
	_, errOut = mustRun(t, dir, 1, "subscribers", "remove", "ban-tin-sang", "nobody@example.vn")
	if !strings.Contains(errOut, "nobody@example.vn is not on ban-tin-sang") {
		t.Fatalf("remove unknown: %s", errOut)
	}

	// Usage errors.
	mustRun(t, dir, 2, "subscribers")
	mustRun(t, dir, 2, "subscribers", "add", "ban-tin-sang")
}

func TestSubscribersUnknownList(t *testing.T) {
	dir := subscribersDir(t)
	for _, args := range [][]string{
		{"subscribers", "add", "ban-tin-trua", "nu@example.vn"},
		{"subscribers", "list", "ban-tin-trua"},
		{"subscribers", "export", "ban-tin-trua"},
		{"subscribers", "remove", "ban-tin-trua", "nu@example.vn"},
		{"subscribers", "import", "ban-tin-trua", "missing.csv"},
	} {
		_, errOut := mustRun(t, dir, 1, args...)
		if !strings.Contains(errOut, `no newsletter "ban-tin-trua"`) || !strings.Contains(errOut, "ban-tin-sang, ban-tin-toi") {
			t.Errorf("%s: stderr %s; want the reason and the configured ids", strings.Join(args, " "), errOut)
		}
	}
}

func TestSubscribersImportExportErase(t *testing.T) {
	dir := subscribersDir(t)
	mustRun(t, dir, 0, "subscribers", "add", "ban-tin-sang", "cu@example.vn", "--name", "Lê Cũ", "--confirmed")

	csvText := "Email,Name\n" +
		"hoa@example.vn,Phạm Thị Hoa\n" + // line 2: new
		"HOA@Example.vn,Hoa again\n" + // line 3: duplicate in another case
		"not an address,Ai Đó\n" + // line 4: bad
		"minh@example.vn,\"Đặng Văn Minh, Hà Nội\"\n" + // line 5: new, comma in the name
		"cu@example.vn\n" + // line 6: already on the list, no name column
		"\n" +
		"a@b@c,x\n" // line 8: bad
	if err := os.WriteFile(filepath.Join(dir, "doc-gia.csv"), []byte(csvText), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut := mustRun(t, dir, 1, "subscribers", "import", "ban-tin-sang", "doc-gia.csv", "--confirmed")
	if !strings.Contains(out, "2 added, 2 already there, 2 rejected (6 rows)") {
		t.Fatalf("import summary: %s\nstderr: %s", out, errOut)
	}
	if !strings.Contains(errOut, "doc-gia.csv:4:") || !strings.Contains(errOut, "doc-gia.csv:8:") || strings.Contains(errOut, "doc-gia.csv:3:") {
		t.Fatalf("import stderr: %s", errOut)
	}

	// The same file again: nothing new.
	out, _ = mustRun(t, dir, 1, "subscribers", "import", "ban-tin-sang", "doc-gia.csv", "--confirmed")
	if !strings.Contains(out, "0 added, 4 already there, 2 rejected (6 rows)") {
		t.Fatalf("import again: %s", out)
	}

	// Without --confirmed and with no header: pending, one email each.
	if err := os.WriteFile(filepath.Join(dir, "moi.csv"), []byte("tuan@example.vn,Võ Tuấn\nhoa@example.vn\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _ = mustRun(t, dir, 0, "subscribers", "import", "ban-tin-sang", "moi.csv")
	if !strings.Contains(out, "1 added, 1 already there, 0 rejected (2 rows)") {
		t.Fatalf("import pending: %s", out)
	}
	if emails := emlFiles(t, filepath.Join(dir, "data", "outbox")); len(emails) != 1 || !strings.Contains(emails[0], "/confirm/") {
		t.Fatalf("want one confirmation email, got %d", len(emails))
	}

	// export: the confirmed ones, as CSV that parses back.
	out, _ = mustRun(t, dir, 0, "subscribers", "export", "ban-tin-sang")
	recs, err := csv.NewReader(strings.NewReader(out)).ReadAll()
	if err != nil {
		t.Fatalf("export does not parse: %v\n%s", err, out)
	}
	want := [][]string{
		{"email", "name"},
		{"cu@example.vn", "Lê Cũ"},
		{"hoa@example.vn", "Phạm Thị Hoa"},
		{"minh@example.vn", "Đặng Văn Minh, Hà Nội"},
	}
	if !slices.EqualFunc(recs, want, slices.Equal[[]string]) {
		t.Fatalf("export = %q, want %q", recs, want)
	}

	// erase: gone from every list.
	out, _ = mustRun(t, dir, 0, "subscribers", "erase", "HOA@example.vn")
	if !strings.Contains(out, "erased every trace of HOA@example.vn") {
		t.Fatalf("erase: %s", out)
	}
	out, _ = mustRun(t, dir, 0, "subscribers", "list", "ban-tin-sang")
	if strings.Contains(strings.ToLower(out), "hoa@example.vn") || !strings.Contains(out, "minh@example.vn") {
		t.Fatalf("list after erase: %s", out)
	}
	_, errOut = mustRun(t, dir, 1, "subscribers", "erase", "hoa@example.vn")
	if !strings.Contains(errOut, "no subscriber hoa@example.vn") {
		t.Fatalf("erase again: %s", errOut)
	}
}

// FuzzReadCSV: any file reads as rows, each with its line and either
// fields or the reason it is broken; nothing panics.
func FuzzReadCSV(f *testing.F) {
	f.Add("nu@example.vn,Ngọc Nữ\nan@example.vn\n")
	f.Add("\"unterminated,quote\nok@example.vn,Ok\n")
	f.Add("a,b,c\r\n\"x\"\"y\",z\n")
	f.Fuzz(func(t *testing.T, data string) {
		rows, err := readCSV(strings.NewReader(data))
		if err != nil {
			return
		}
		last := 0
		for _, r := range rows {
			if r.line < last {
				t.Fatalf("rows out of order: line %d after %d", r.line, last)
			}
			last = r.line
			if r.err == nil && len(r.fields) == 0 {
				t.Fatalf("line %d: no fields and no error", r.line)
			}
		}
	})
}
