package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
	"testing"
)

// TestMain lets the test binary stand in for bin/bench when the bench
// starts the minimal gateway by re-executing itself (os.Executable).
func TestMain(m *testing.M) {
	if isMinimalGateway(os.Args[1:]) {
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		mainMinimalGateway(ctx, os.Args[2:])
		stop()
		return
	}
	os.Exit(m.Run())
}
