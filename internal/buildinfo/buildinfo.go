// Package buildinfo holds the version and commit stamped in by the linker
// (-ldflags "-X ...buildinfo.Version=... -X ...buildinfo.Commit=...") and the
// flag handling every binary shares: -version and -h.
package buildinfo

import (
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/tgbotsvc/tgbot/internal/config"
)

// Set by the linker; see Makefile.
var (
	Version = "dev"
	Commit  = "unknown"
)

// String is "<version> (<commit>)".
func String() string { return fmt.Sprintf("%s (%s)", Version, Commit) }

// ParseFlags handles -version and -h for a binary whose configuration is a
// value of cfg's type. It returns exit=true when the program should exit
// (with code 0, or 2 for a bad flag) after it printed what was asked.
func ParseFlags(args []string, stdout io.Writer, binary, about string, cfg any) (exit bool, code int) {
	exit, code, _ = parseFlags(args, stdout, binary, binary+" [-h] [-version]", about, cfg)
	return exit, code
}

// parseFlags is ParseFlags for the usage line usage; it also returns the
// arguments after the flags.
func parseFlags(args []string, stdout io.Writer, binary, usage, about string, cfg any) (exit bool, code int, rest []string) {
	fs := flag.NewFlagSet(binary, flag.ContinueOnError)
	fs.SetOutput(stdout)
	showVersion := fs.Bool("version", false, "print version and exit")
	fs.Usage = func() { config.PrintUsage(stdout, binary, usage, about, cfg) }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return true, 0, nil
		}
		return true, 2, nil
	}
	if *showVersion {
		fmt.Fprintf(stdout, "%s %s\n", binary, String())
		return true, 0, nil
	}
	return false, 0, fs.Args()
}

// Subcommands maps the name of a binary's subcommand to what it runs.
type Subcommands map[string]func() error

// Main is the shared tail of every main(): parse flags, run, and exit
// non-zero with the error on stderr when run fails.
func Main(binary, about string, cfg any, run func() error) {
	MainWith(binary, about, cfg, run, nil)
}

// MainWith is Main for a binary with subcommands.
func MainWith(binary, about string, cfg any, run func() error, subs Subcommands) {
	os.Exit(Dispatch(os.Args[1:], os.Stdout, os.Stderr, binary, about, cfg, run, subs))
}

// Dispatch handles args: -h and -version (also after a subcommand:
// "receiver login -h"), then runs the subcommand args name, or run when
// there is none. An unknown subcommand or extra argument is an error. It
// returns the exit code: 0, 1 when the run failed, 2 for bad arguments.
func Dispatch(args []string, stdout, stderr io.Writer, binary, about string, cfg any, run func() error, subs Subcommands) int {
	names := make([]string, 0, len(subs))
	for name := range subs {
		names = append(names, name)
	}
	sort.Strings(names)
	usage := binary + " [-h] [-version]"
	if len(names) > 0 {
		usage += " [" + strings.Join(names, "|") + " [-h]]"
	}
	exit, code, rest := parseFlags(args, stdout, binary, usage, about, cfg)
	if exit {
		return code
	}
	if len(rest) > 0 {
		sub, ok := subs[rest[0]]
		if !ok {
			valid := "none"
			if len(names) > 0 {
				valid = strings.Join(names, ", ")
			}
			fmt.Fprintf(stderr, "%s: unknown subcommand %q (valid subcommands: %s)\nUsage: %s\n", binary, rest[0], valid, usage)
			return 2
		}
		name := binary + " " + rest[0]
		if exit, code, extra := parseFlags(rest[1:], stdout, name, name+" [-h]", about, cfg); exit {
			return code
		} else if len(extra) > 0 {
			fmt.Fprintf(stderr, "%s: unexpected arguments %q\n", name, extra)
			return 2
		}
		run = sub
	}
	if err := run(); err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", binary, err)
		return 1
	}
	return 0
}
