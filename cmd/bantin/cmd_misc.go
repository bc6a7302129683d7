package main

import (
	"fmt"
	"runtime/debug"

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
report every problem with the file, line, key and fix. Exit status 2 when the
config is invalid.`,
		Example: `  bantin config check
  bantin --config /etc/bantin/bantin.yaml config check --print`,
		Args: args(0, 0),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := loadConfig(opts)
			if err != nil {
				return err
			}
			if print {
				return cfg.Print(opts.stdout)
			}
			from := cfg.Path
			if from == "" {
				from = "no file, defaults and environment"
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
