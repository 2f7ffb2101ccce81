package main

// The command-line client: subcommands of the hookline binary (one thing to
// install, one version; docs/cli.md says why). run() hands args whose first
// word is a subcommand to cliMain; everything else is the gateway, as
// before.

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
)

// cliFunc is the shape of run() and of every subcommand.
type cliFunc func(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error

// cliCommand is one subcommand.
type cliCommand struct {
	name, summary string
	run           cliFunc
}

// cliCommands lists the subcommands in the order `hookline help` shows them.
func cliCommands() []cliCommand {
	return []cliCommand{
		{"serve", "run the gateway (the default when no command is given)", nil},
		{"send", "sign and post a sample webhook (or a body of your own) to a gateway", runSend},
		{"tail", "follow events as they arrive, resumable after the last sequence seen", runTail},
		{"events", "list events (one page or all) or get one by id", runEvents},
		{"orders", "get the current state of an order", runOrders},
		{"sessions", "get the current state of a session", runSessions},
		{"reprocess", "run stored deliveries through the current mappings; append corrected events (admin)", runReprocess},
		{"version", "print the version, commit and Go version of this binary", runVersion},
		{"help", "show the commands, or a command's help", runHelp},
	}
}

// subcommand decides what args ask for. A first word naming a subcommand
// returns it with the remaining args; `serve` returns nil and the args after
// it (the gateway); `--version` among the gateway's flags returns the
// version command; `-h`/`--help` first prints the commands before the
// gateway's flags. Otherwise it returns nil and args unchanged: the gateway.
func subcommand(args []string) (cliFunc, []string) {
	if len(args) == 0 {
		return nil, args
	}
	first := args[0]
	for _, c := range cliCommands() {
		if c.name != first {
			continue
		}
		if c.run == nil { // serve
			return nil, args[1:]
		}
		return c.run, args[1:]
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-version" || a == "--version" {
			return runVersion, nil
		}
	}
	switch {
	case first == "-h" || first == "-help" || first == "--help":
		return runServeHelp, args
	case first != "" && !strings.HasPrefix(first, "-"):
		return func(context.Context, []string, func(string) string, io.Writer, io.Writer) error {
			return usageErrorf("unknown command %q (commands: %s; `hookline help` explains them)", first, strings.Join(commandNames(), ", "))
		}, nil
	}
	return nil, args
}

func commandNames() []string {
	var names []string
	for _, c := range cliCommands() {
		names = append(names, c.name)
	}
	return names
}

// runServeHelp prints the commands, then the gateway's flags.
func runServeHelp(_ context.Context, args []string, getenv func(string) string, _, stderr io.Writer) error {
	writeOverview(stderr)
	fmt.Fprintln(stderr, "\nGateway flags (hookline [serve] [flags]):")
	_, err := parseFlags(args, getenv, stderr)
	return err
}

func writeOverview(w io.Writer) {
	fmt.Fprintln(w, `hookline is a webhook normalization gateway and its command-line client.

Usage:
  hookline [serve] --config FILE [flags]    run the gateway
  hookline COMMAND [flags] [args]           talk to a gateway

Commands:`)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, c := range cliCommands() {
		fmt.Fprintf(tw, "  %s\t%s\n", c.name, c.summary)
	}
	tw.Flush()
	fmt.Fprintln(w, `
A first session (docs/cli.md has more):
  make run                                   # terminal 1: the gateway with config/dev.yaml
  hookline tail                              # terminal 2: follow new events
  hookline send truv order-status-updated    # terminal 3: post a signed sample

Run 'hookline COMMAND --help' for a command's flags and examples.`)
}

// runHelp prints the overview, or the help of one command.
func runHelp(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		writeOverview(stdout)
		return nil
	}
	for _, c := range cliCommands() {
		if c.name != args[0] {
			continue
		}
		if c.run == nil {
			_, err := parseFlags([]string{"-h"}, getenv, stdout)
			return err
		}
		return c.run(ctx, append(slices.Clone(args[1:]), "--help"), getenv, stdout, stdout)
	}
	return usageErrorf("unknown command %q (commands: %s)", args[0], strings.Join(commandNames(), ", "))
}

// Exit codes of the CLI (docs/cli.md lists them).
const (
	exitOK       = 0
	exitFailure  = 1 // the command failed (unreachable gateway, refused token, non-2xx answer...)
	exitUsage    = 2 // bad flags or arguments, or INVALID_ARGUMENT from the gateway
	exitExpired  = 3 // CURSOR_EXPIRED: the cursor is older than the gateway's retention
	exitNotFound = 4 // NOT_FOUND
)

// exitError carries the exit code of a failed command.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &exitError{exitUsage, fmt.Errorf(format, args...)}
}

// exitCode is the process exit code for the error run returned.
func exitCode(err error) int {
	var ee *exitError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ee):
		return ee.code
	}
	return exitFailure
}

// newFlagSet returns a command's flag set whose -help prints usage (a
// synopsis, a description and examples) followed by the flags.
func newFlagSet(name, usage string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("hookline "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintln(fs.Output(), strings.TrimSpace(usage))
		fmt.Fprintln(fs.Output(), "\nFlags:")
		fs.PrintDefaults()
	}
	return fs
}

// parseCommand parses args (flags and positional arguments in any order)
// and returns the positional ones. Parse errors are usage errors; -help is
// flag.ErrHelp.
func parseCommand(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &exitError{exitUsage, err}
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error {
	*l = append(*l, v)
	return nil
}
