// Command bantin publishes a newsroom's articles as feeds and newsletters.
// This package only wires: it builds each part from the config, hands the
// parts to each other, and runs.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/bantin/bantin/internal/config"
	"github.com/bantin/bantin/internal/gcpace"
)

// Exit statuses (SPEC §3).
const (
	exitOK     = 0
	exitFailed = 1
	exitUsage  = 2
)

func main() {
	gcpace.Keep(gcpace.Headroom) // for the life of the process
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// usageError is a mistake in how a command was called: exit status 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// failedError is a failure that was already reported in full (such as
// rejected articles): exit status 1 without another message.
type failedError struct{ msg string }

func (e failedError) Error() string { return e.msg }

// run executes one command line and returns the exit status.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	// A BANTIN_ variable that sets no key is a typo the admin would
	// otherwise never hear of: said before every command.
	for _, w := range config.EnvWarnings(os.Environ()) {
		fmt.Fprintln(stderr, "bantin: warning: "+w)
	}
	root := newRoot(stdin, stdout, stderr)
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return exitOK
	}
	var failed failedError
	if errors.As(err, &failed) {
		return exitFailed
	}
	fmt.Fprintf(stderr, "bantin: %v\n", err)
	var tf tempFailError
	if errors.As(err, &tf) {
		return exitTempFail
	}
	var ue usageError
	var ce *config.Error
	switch {
	case errors.As(err, &ue), strings.HasPrefix(err.Error(), "unknown command"), strings.HasPrefix(err.Error(), "unknown flag"):
		fmt.Fprintln(stderr, "Run 'bantin --help' for usage.")
		return exitUsage
	case errors.As(err, &ce):
		return exitUsage
	}
	return exitFailed
}

// options are the flags every command shares.
type options struct {
	configPath string
	stdin      io.Reader
	stdout     io.Writer
	stderr     io.Writer
}

func newRoot(stdin io.Reader, stdout, stderr io.Writer) *cobra.Command {
	opts := &options{stdin: stdin, stdout: stdout, stderr: stderr}
	root := &cobra.Command{
		Use:   "bantin",
		Short: "Publish a newsroom's articles as RSS, Atom and JSON feeds",
		Long: `bantin ingests published articles (from a CMS through its API, a watched
folder, or files on the command line), keeps them in a store, and serves them.

The config file is --config FILE, else $BANTIN_CONFIG, else ./config/bantin.yaml,
else /etc/bantin/bantin.yaml; with none, the defaults run a working daemon.`,
		Example: `  bantin serve
  bantin ingest articles/
  bantin --config /etc/bantin/bantin.yaml config check --print`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVar(&opts.configPath, "config", "", "config file (default: $BANTIN_CONFIG, ./config/bantin.yaml, /etc/bantin/bantin.yaml)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return usageError{err} })
	root.CompletionOptions.DisableDefaultCmd = true
	root.AddCommand(
		newServeCmd(opts),
		newIngestCmd(opts),
		newArticlesCmd(opts),
		newSubscribersCmd(opts),
		newDigestCmd(opts),
		newSourcesCmd(opts),
		newBouncesCmd(opts),
		newFeedsCmd(opts),
		newConfigCmd(opts),
		newMigrateCmd(opts),
		newBackupCmd(opts),
		newVersionCmd(opts),
	)
	return root
}

// needsSubcommand is the RunE of a command that only groups others: called
// alone or with an unknown word, it is a usage error (exit 2), not help
// with exit 0.
func needsSubcommand(cmd *cobra.Command, a []string) error {
	var names []string
	for _, sub := range cmd.Commands() {
		names = append(names, sub.Name())
	}
	if len(a) > 0 {
		return usageError{fmt.Errorf("%s has no subcommand %q; use one of: %s", cmd.CommandPath(), a[0], strings.Join(names, ", "))}
	}
	return usageError{fmt.Errorf("%s needs a subcommand: %s", cmd.CommandPath(), strings.Join(names, ", "))}
}

// args checks the number of positional arguments as a usage error.
func args(min, max int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if len(a) < min || (max >= 0 && len(a) > max) {
			want := fmt.Sprintf("%d", min)
			switch {
			case max < 0:
				want = fmt.Sprintf("at least %d", min)
			case max != min:
				want = fmt.Sprintf("%d to %d", min, max)
			}
			noun := "arguments"
			if min == 1 && (max == min || max < 0) {
				noun = "argument" // "takes 1 argument", "takes at least 1 argument"
			}
			return usageError{fmt.Errorf("%s takes %s %s, got %d; usage: %s", cmd.CommandPath(), want, noun, len(a), cmd.UseLine())}
		}
		return nil
	}
}
