package config

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// systemConfigDir and systemStateDir are the system layout: the config in
// /etc/bantin, the store and the outbox in /var/lib/bantin (the home of the
// bantin user and the WorkingDirectory of config/bantin.service).
const (
	systemConfigDir = "/etc/bantin"
	systemStateDir  = "/var/lib/bantin"
)

// BaseDir returns the folder that the relative paths of a config file at
// path (storage.dsn for sqlite, mail.file_dir, mail.dkim.key_file and extra_keys,
// ingest.watch_dir, templates_dir) are resolved against, and why:
//
//   - no file: the working directory ("");
//   - a file in a folder named config: the folder above it, the project
//     layout of ./config/bantin.yaml beside ./data/bantin.db;
//   - a file in /etc/bantin: /var/lib/bantin, the system layout;
//   - any other file: its own folder.
//
// So `--config /srv/news/bantin.yaml` reads /srv/news/data/bantin.db from
// wherever it is run, and never makes an empty store where it was run.
func BaseDir(path string) (dir, why string) {
	if path == "" {
		return "", "no config file: the working directory"
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return "", "the working directory"
	}
	folder := filepath.Dir(abs)
	switch {
	case folder == systemConfigDir:
		return systemStateDir, "the state folder of a config in " + systemConfigDir
	case filepath.Base(folder) == "config":
		return filepath.Dir(folder), "the folder that holds " + filepath.Join(filepath.Base(folder), filepath.Base(abs))
	}
	return folder, "the folder of " + filepath.Base(abs)
}

// resolvePaths makes the relative paths of c relative to BaseDir(c.Path)
// (absolute, unless that is the working directory, when they stay as
// written). A path set by a BANTIN_* variable is left relative to the
// working directory, as any path typed on a command line is.
func (c *Config) resolvePaths(o *origin) {
	base, _ := BaseDir(c.Path)
	if base != "" {
		if wd, err := os.Getwd(); err == nil && sameDir(wd, base) {
			base = ""
		}
	}
	c.BaseDir = base
	if base == "" {
		return
	}
	join := func(key string, p *string) {
		if _, fromEnv := o.env[key]; fromEnv || *p == "" || filepath.IsAbs(*p) {
			return
		}
		*p = filepath.Join(base, *p)
	}
	if c.Storage.Driver == "sqlite" && !strings.HasPrefix(c.Storage.DSN, "file:") && c.Storage.DSN != ":memory:" &&
		!strings.Contains(c.Storage.DSN, "://") {
		join("storage.dsn", &c.Storage.DSN)
	}
	join("mail.file_dir", &c.Mail.FileDir)
	join("mail.dkim.key_file", &c.Mail.DKIM.KeyFile)
	for i := range c.Mail.DKIM.ExtraKeys {
		join(fmt.Sprintf("mail.dkim.extra_keys[%d].key_file", i), &c.Mail.DKIM.ExtraKeys[i].KeyFile)
	}
	join("ingest.watch_dir", &c.Ingest.WatchDir)
	join("templates_dir", &c.TemplatesDir)
}

// sameDir reports whether a and b are one folder.
func sameDir(a, b string) bool {
	if filepath.Clean(a) == filepath.Clean(b) {
		return true
	}
	ai, err1 := os.Stat(a)
	bi, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(ai, bi)
}
