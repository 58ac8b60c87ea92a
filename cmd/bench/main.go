// Command bench measures the services as real processes on 127.0.0.1 and
// compares them with a bare gotd client against the same emulator: sender
// throughput and latency, a bulk send at Telegram's pace, receiver
// throughput and latency, memory, start-up time and document streaming. It
// prints a table and writes it, with the machine it ran on, to a Markdown
// file (docs/BENCHMARKS.md by default).
//
// Usage: make build && bin/bench [-quick] [-out docs/BENCHMARKS.md] [-n 10000] ...
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/tgbotsvc/tgbot/internal/buildinfo"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if isMinimalGateway(os.Args[1:]) {
		mainMinimalGateway(ctx, os.Args[2:])
		return
	}
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// mainMinimalGateway runs the minimal gateway baseline (see minigw.go) until
// SIGTERM.
func mainMinimalGateway(ctx context.Context, args []string) {
	c, err := parseMinimalGateway(args)
	if err == nil {
		err = runMinimalGateway(ctx, c)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	opts, exit, err := parseFlags(args, stdout)
	if err != nil || exit {
		return err
	}
	_, err = Run(ctx, opts, stdout)
	return err
}

// parseFlags turns the command line into Options. exit is true after -h or
// -version.
func parseFlags(args []string, stdout io.Writer) (opts Options, exit bool, err error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.SetOutput(stdout)
	quick := fs.Bool("quick", false, "small loads (a few seconds in all), for tests")
	version := fs.Bool("version", false, "print version and exit")
	def := DefaultOptions(false)
	fs.StringVar(&opts.BinDir, "bin", "bin", "directory with the tgemu, sender and receiver binaries")
	fs.StringVar(&opts.Out, "out", "docs/BENCHMARKS.md", "Markdown report to write (empty: none)")
	fs.StringVar(&opts.WorkDir, "work", "", "directory for data dirs, logs and profiles (default: a temp dir, removed unless -keep)")
	fs.BoolVar(&opts.Keep, "keep", false, "keep the work directory")
	fs.StringVar(&opts.LogLevel, "log-level", def.LogLevel, "LOG_LEVEL of the services")
	fs.IntVar(&opts.N, "n", 0, "send_message calls per client kind (sender, bare)")
	fs.IntVar(&opts.Concurrency, "c", 0, "concurrent clients for the send and push loads")
	fs.IntVar(&opts.M, "m", 0, "user messages pushed for the receiver load")
	fs.Float64Var(&opts.PacedRate, "paced-rate", 0, "messages/s of the receiver latency run (default: the goal, 2000)")
	fs.IntVar(&opts.Bulk, "bulk", 0, "recipients of the bulk send")
	fs.IntVar(&opts.BulkRate, "bulk-rate", 0, "R: messages/s the emulator allows and the sender is configured to")
	fs.IntVar(&opts.DocMB, "doc-mb", 0, "size of the generated document, MiB")
	fs.IntVar(&opts.Bots, "bots", 0, "bots served by one receiver in the many-bots run (100; -quick 10)")
	fs.IntVar(&opts.Outage, "outage", 0, "messages written while the downstream is down (1000000 for the 1M-event run; its own time bound applies)")
	fs.DurationVar(&opts.Timeout, "timeout", 0, "bound on the whole run")
	fs.StringVar(&opts.Profile, "profile", "", `CPU profiles of the send and receive loads, in-process: "auto" (when a goal is missed; the default), "always" or "never" (-quick default)`)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "bench: benchmarks of bin/tgemu, bin/sender and bin/receiver against a bare gotd client\n\nUsage: bench [flags]\n\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if err == flag.ErrHelp {
			return opts, true, nil
		}
		return opts, true, err
	}
	if *version {
		fmt.Fprintf(stdout, "bench %s\n", buildinfo.String())
		return opts, true, nil
	}
	opts.Quick = *quick
	opts.setDefaults()
	switch opts.Profile {
	case "auto", "always", "never":
	default:
		return opts, true, fmt.Errorf("-profile: %q is not auto, always or never", opts.Profile)
	}
	return opts, false, nil
}
