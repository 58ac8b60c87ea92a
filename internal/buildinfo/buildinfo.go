// Package buildinfo holds the version and commit stamped in by the linker
// (-ldflags "-X ...buildinfo.Version=... -X ...buildinfo.Commit=...") and the
// flag handling every binary shares: -version and -h.
package buildinfo

import (
	"flag"
	"fmt"
	"io"
	"os"

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
	fs := flag.NewFlagSet(binary, flag.ContinueOnError)
	fs.SetOutput(stdout)
	showVersion := fs.Bool("version", false, "print version and exit")
	fs.Usage = func() { config.PrintUsage(stdout, binary, about, cfg) }
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return true, 0
		}
		return true, 2
	}
	if *showVersion {
		fmt.Fprintf(stdout, "%s %s\n", binary, String())
		return true, 0
	}
	return false, 0
}

// Main is the shared tail of every main(): parse flags, run, and exit
// non-zero with the error on stderr when run fails.
func Main(binary, about string, cfg any, run func() error) {
	if exit, code := ParseFlags(os.Args[1:], os.Stdout, binary, about, cfg); exit {
		os.Exit(code)
	}
	if err := run(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", binary, err)
		os.Exit(1)
	}
}
