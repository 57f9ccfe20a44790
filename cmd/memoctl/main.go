// Command memoctl inspects and clears memostore stores: files, and the
// Redis servers that stores share.
//
//	memoctl info [--json] [--namespace NAME] [--watch INTERVAL [--count N]] PATH
//	memoctl clear [--namespace NAME] [--expired] [--stale [--grace D]] PATH
//	memoctl sweep PATH
//	memoctl keys --namespace NAME [--limit N] PATH
//	memoctl check [--fix] PATH
//	memoctl compact PATH
//	memoctl version
//	memoctl help [COMMAND]
//
// Flags may come before or after PATH, and MEMOSTORE_PATH may stand in for
// PATH. memoctl exits 0 on success, 1 when the command fails and 2 on a
// usage error.
//
// A store that a running program holds is locked against every other
// process. memoctl then talks to that program through the store's control
// endpoint, the Unix socket PATH.ctl: info shows its live counters and
// memory tiers, and clear clears both of its tiers. check --fix and compact
// refuse such a store.
//
// PATH may also be a Redis URL, redis://host:6379/0 (rediss:// for TLS;
// ?prefix=NAME for a store opened WithPrefix). info and clear work there,
// on the counters and keys every process shares; sweep has nothing to do,
// as Redis expires entries by itself; keys, check and compact are for
// files only.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	_ "github.com/memostore/memostore/store/redisstore" // memoctl opens redis:// URLs too

	"github.com/redis/go-redis/v9"
)

// version is memoctl's version, set at build time with
// -ldflags "-X main.version=...".
var version = "dev"

// A command is one memoctl subcommand.
type command struct {
	name    string
	summary string
	usage   string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) error
}

func commands() []command {
	return []command{
		{"info", "show a store's files and namespaces, with their counters", infoUsage, RunInfo},
		{"clear", "delete the entries of one namespace, or of all, or the expired", clearUsage, RunClear},
		{"sweep", "delete the entries that have expired", sweepUsage, RunSweep},
		{"keys", "list a namespace's stored keys as JSON lines", keysUsage, RunKeys},
		{"check", "verify every record, index and counter; --fix repairs", checkUsage, RunCheck},
		{"compact", "rewrite the file without its free pages", compactUsage, RunCompact},
		{"version", "print memoctl's version", "usage: memoctl version", RunVersion},
	}
}

// errUsage marks errors that call for usage and exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// quietRedis discards go-redis's own log lines: memoctl reports errors
// itself, once.
type quietRedis struct{}

func (quietRedis) Printf(context.Context, string, ...any) {}

func main() {
	redis.SetLogger(quietRedis{})
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command in args and returns memoctl's exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stderr)
		return 2
	}
	name, rest := args[0], args[1:]
	if name == "help" || name == "-h" || name == "--help" {
		return help(rest, stdout, stderr)
	}
	for _, c := range commands() {
		if c.name != name {
			continue
		}
		err := c.run(ctx, rest, stdout, stderr)
		var ue *usageError
		switch {
		case err == nil:
			return 0
		case errors.Is(err, flag.ErrHelp):
			fmt.Fprintln(stdout, c.usage)
			return 0
		case errors.As(err, &ue):
			fmt.Fprintf(stderr, "memoctl %s: %v\n%s\n", name, err, c.usage)
			return 2
		}
		fmt.Fprintf(stderr, "memoctl %s: %v\n", name, err)
		return 1
	}
	fmt.Fprintf(stderr, "memoctl: unknown command %q\n", name)
	printUsage(stderr)
	return 2
}

const helpUsage = `usage: memoctl help [COMMAND]

Shows the commands, or COMMAND's usage, flags and examples.`

func help(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		printUsage(stdout)
		return 0
	}
	for _, c := range commands() {
		if c.name == args[0] {
			fmt.Fprintln(stdout, c.usage)
			return 0
		}
	}
	if args[0] == "help" {
		fmt.Fprintln(stdout, helpUsage)
		return 0
	}
	fmt.Fprintf(stderr, "memoctl help: unknown command %q\n", args[0])
	return 2
}

func printUsage(w io.Writer) {
	fmt.Fprintln(w, "memoctl inspects, checks and clears memostore store files.")
	fmt.Fprintln(w, "\nusage: memoctl COMMAND [FLAGS] PATH\n\ncommands:")
	for _, c := range commands() {
		fmt.Fprintf(w, "  %-8s %s\n", c.name, c.summary)
	}
	fmt.Fprintln(w, "  help     show help for a command")
	fmt.Fprintln(w, "\nFlags may come before or after PATH; MEMOSTORE_PATH may stand in for PATH.")
}

// RunVersion prints memoctl's version.
func RunVersion(_ context.Context, args []string, stdout, _ io.Writer) error {
	if len(args) > 0 {
		if args[0] == "-h" || args[0] == "--help" {
			return flag.ErrHelp
		}
		return usagef("unexpected argument %q", args[0])
	}
	fmt.Fprintln(stdout, "memoctl", version)
	return nil
}
