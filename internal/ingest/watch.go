package ingest

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/fsnotify/fsnotify"
)

// settle is how long a file must be quiet before it is read: long enough
// for a writer to finish a burst of writes, short enough that a file is in
// within a second of being written.
const settle = 150 * time.Millisecond

// Watcher imports the article files of a folder (and its sub-folders) when
// they are written, renamed into place or changed. A bad file is logged by
// name and the watcher goes on.
type Watcher struct {
	dir      string
	importer *Importer
	logger   *slog.Logger
}

// NewWatcher builds a Watcher for dir.
func NewWatcher(dir string, importer *Importer, logger *slog.Logger) *Watcher {
	return &Watcher{dir: dir, importer: importer, logger: logger}
}

// Run imports what the folder holds, then watches it until ctx ends.
func (w *Watcher) Run(ctx context.Context) error {
	if err := os.MkdirAll(w.dir, 0o750); err != nil {
		return fmt.Errorf("watch %s: %w", w.dir, err)
	}
	// The folder itself may be a link the admin made; what is inside it
	// is checked entry by entry (Files with Watched).
	dir, err := filepath.EvalSymlinks(w.dir)
	if err != nil {
		return fmt.Errorf("watch %s: %w", w.dir, err)
	}
	w.dir = dir
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watch %s: %w", w.dir, err)
	}
	defer fw.Close()
	if err := w.addTree(fw, w.dir); err != nil {
		return err
	}
	w.logger.Info("watching folder for articles", "dir", w.dir)
	w.importPaths(ctx, []string{w.dir})

	pending := map[string]time.Time{}
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			w.logger.Warn("watch folder: event error", "dir", w.dir, "err", err)
			if errors.Is(err, fsnotify.ErrEventOverflow) {
				// Events were lost: read the whole folder again. Files
				// already stored are recognized by their hash and skipped.
				pending[w.dir] = time.Now().Add(settle)
				timer.Reset(settle)
			}
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			if Ignored(ev.Name) || !ev.Has(fsnotify.Create|fsnotify.Write) {
				continue
			}
			// Lstat: a link to a folder elsewhere is not watched; a link
			// to a file is skipped when it is read.
			if info, err := os.Lstat(ev.Name); err == nil && info.IsDir() {
				if ev.Has(fsnotify.Create) {
					if err := w.addTree(fw, ev.Name); err != nil {
						w.logger.Warn("watch folder", "err", err)
					}
					pending[ev.Name] = time.Now().Add(settle)
				}
			} else if FormatOf(ev.Name) == FormatUnknown {
				continue
			} else {
				pending[ev.Name] = time.Now().Add(settle)
			}
			// Wake for the earliest file due, which a busy file written
			// again and again never pushes back.
			timer.Reset(time.Until(earliest(pending)))
		case <-timer.C:
			now := time.Now()
			var ready []string
			var wait time.Duration
			for path, at := range pending {
				if d := at.Sub(now); d > 0 {
					if wait == 0 || d < wait {
						wait = d
					}
					continue
				}
				ready = append(ready, path)
				delete(pending, path)
			}
			sort.Strings(ready)
			w.importPaths(ctx, ready)
			if wait > 0 {
				timer.Reset(wait)
			}
		}
	}
}

// earliest returns the first deadline among pending files.
func earliest(pending map[string]time.Time) time.Time {
	var first time.Time
	for _, at := range pending {
		if first.IsZero() || at.Before(first) {
			first = at
		}
	}
	return first
}

// addTree watches dir and every folder below it.
func (w *Watcher) addTree(fw *fsnotify.Watcher, dir string) error {
	return filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return fmt.Errorf("watch %s: %w", path, err)
		}
		if !d.IsDir() {
			return nil
		}
		if path != dir && Ignored(path) {
			return filepath.SkipDir
		}
		if err := fw.Add(path); err != nil {
			return fmt.Errorf("watch %s: %w", path, err)
		}
		return nil
	})
}

func (w *Watcher) importPaths(ctx context.Context, paths []string) {
	var existing []string
	for _, p := range paths {
		if _, err := os.Lstat(p); err == nil {
			existing = append(existing, p)
		}
	}
	if len(existing) == 0 {
		return
	}
	files := Files(FilesOptions{Paths: existing, Watched: true, Skipped: func(path, reason string) {
		w.logger.Warn("watch folder: file skipped; only regular files are read", "file", path, "reason", reason)
	}})
	summary, err := w.importer.Run(ctx, files, func(r Result) {
		switch {
		case r.Err != nil:
			w.logger.Warn("watch folder: article rejected", "file", r.Origin.String(), "reason", r.Err.Error())
		case r.Outcome.String() != "unchanged":
			w.logger.Info("watch folder: article "+r.Outcome.String(), "file", r.Origin.String(), "id", r.ID, "slug", r.Slug)
		}
	})
	if err != nil && ctx.Err() == nil {
		w.logger.Error("watch folder: import failed", "err", err)
		return
	}
	if summary.Created+summary.Updated+summary.Rejected > 0 {
		w.logger.Info("watch folder: imported", "created", summary.Created, "updated", summary.Updated,
			"unchanged", summary.Unchanged, "rejected", summary.Rejected)
	}
}
