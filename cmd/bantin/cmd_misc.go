package main

import (
	"context"
	"fmt"
	"os"
	"runtime/debug"
	"time"

	"github.com/spf13/cobra"
)

func newConfigCmd(opts *options) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "Check the configuration",
		Example: `  bantin config check
  bantin --config /etc/bantin/bantin.yaml config check --print`,
		Args: cobra.ArbitraryArgs,
		RunE: needsSubcommand,
	}
	var print bool
	check := &cobra.Command{
		Use:   "check [--print]",
		Short: "Validate the config; --print shows the effective config, secrets masked",
		Long: `Validate the config file and the BANTIN_* environment as serve would, and
report every problem with the file, line, key and fix. Beyond the keys'
values, it reads and parses the DKIM key, loads the templates (templates_dir
included), renders each newsletter's subject and email on a sample issue, and
builds the mail transport's settings: the checks serve runs at start and on
a reload. Exit status 2 when the config is invalid.`,
		Example: `  bantin config check
  bantin --config /etc/bantin/bantin.yaml config check --print`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			// The same checks as serve's start and a reload, all in one
			// run: a config that passes here starts. --print shows the
			// config whatever they find, since it helps find what they
			// name.
			cfg, _, checkErr := loadChecked(opts)
			if cfg == nil {
				return checkErr
			}
			for _, w := range startWarnings(cfg) {
				fmt.Fprintln(opts.stderr, "bantin: warning: "+w)
			}
			if print {
				if err := cfg.Print(opts.stdout); err != nil {
					return err
				}
				return checkErr
			}
			if checkErr != nil {
				return checkErr
			}
			from := cfg.Path
			if from == "" {
				from = "no file, defaults and environment"
			}
			if cfg.BaseDir != "" {
				from += "; its relative paths are from " + cfg.BaseDir
			}
			fmt.Fprintf(opts.stdout, "config is valid (%s)\n", from)
			return nil
		},
	}
	check.Flags().BoolVar(&print, "print", false, "print the effective config as YAML, secrets masked")
	cmd.AddCommand(check)
	return cmd
}

func newMigrateCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "migrate",
		Short: "Apply the store's schema migrations (serve does this too)",
		Example: `  bantin migrate
  BANTIN_STORAGE_DSN=/var/lib/bantin/bantin.db bantin migrate`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(opts)
			if err != nil {
				return err
			}
			st, err := openStore(cmd.Context(), cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			applied, err := st.Migrate(cmd.Context())
			if err != nil {
				return err
			}
			if len(applied) == 0 {
				fmt.Fprintln(opts.stdout, "schema is up to date")
			}
			for _, name := range applied {
				fmt.Fprintf(opts.stdout, "applied %s\n", name)
			}
			return nil
		},
	}
}

func newVersionCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:     "version",
		Short:   "Print the version and the source revision",
		Example: `  bantin version`,
		Args:    args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			fmt.Fprintln(opts.stdout, versionString())
			return nil
		},
	}
}

// versionString reads the module version and VCS stamp from build info.
func versionString() string {
	info, ok := debug.ReadBuildInfo()
	if !ok {
		return "bantin (unknown version)"
	}
	version := info.Main.Version
	if version == "" {
		version = "(devel)"
	}
	var revision, modified, when string
	for _, s := range info.Settings {
		switch s.Key {
		case "vcs.revision":
			revision = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				modified = "+dirty"
			}
		case "vcs.time":
			when = s.Value
		}
	}
	out := "bantin " + version
	if revision != "" {
		out += fmt.Sprintf(" (%s%s, %s)", revision[:min(12, len(revision))], modified, when)
	}
	return out + " " + info.GoVersion
}

func newBackupCmd(opts *options) *cobra.Command {
	return &cobra.Command{
		Use:   "backup FILE",
		Short: "Write a consistent copy of the SQLite store, also while serve runs",
		Long: `Write a copy of the SQLite store (storage.dsn) to FILE. The copy is one
consistent snapshot, taken while serve and other commands go on working; it is
checked with SQLite's integrity check before it is put at FILE, and FILE must
not exist. Restore by stopping serve and putting the copy at storage.dsn.
For PostgreSQL, use pg_dump.`,
		Example: `  bantin backup /var/backups/bantin-$(date +%F).db`,
		Args:    args(1, 1),
		RunE: func(cmd *cobra.Command, a []string) error {
			ctx := cmd.Context()
			cfg, err := loadConfig(opts)
			if err != nil {
				return err
			}
			// A backup copies the store as it is: it makes none (a copy
			// of an empty store made by mistake would look like a
			// backup), and migrates none (a copy taken before an upgrade
			// is what it is for).
			if cfg.Storage.Driver == "sqlite" {
				if err := storeExists(cfg); err != nil {
					return err
				}
			}
			st, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			b, ok := st.(interface {
				Backup(ctx context.Context, path string) error
			})
			if !ok {
				return fmt.Errorf("bantin backup copies a SQLite store; storage.driver is %s: use pg_dump -Fc for PostgreSQL", cfg.Storage.Driver)
			}
			started := time.Now()
			if err := b.Backup(ctx, a[0]); err != nil {
				return err
			}
			info, err := os.Stat(a[0])
			if err != nil {
				return err
			}
			size := fmt.Sprintf("%d KiB", info.Size()>>10)
			if info.Size() >= 10<<20 {
				size = fmt.Sprintf("%d MiB", info.Size()>>20)
			}
			fmt.Fprintf(opts.stdout, "backed up %s to %s (%s, checked) in %s\n", cfg.Storage.DSN, a[0],
				size, time.Since(started).Round(time.Millisecond))
			return nil
		},
	}
}
