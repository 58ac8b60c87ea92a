package main

import (
	"fmt"
	"math"
	"time"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// Goals of the table.
const (
	goalRatio      = 0.8
	goalAddedP99   = 2 * time.Millisecond
	goalBulkFactor = 1.05
	goalEventsRate = 2000.0
	goalEventsP99  = 50 * time.Millisecond
	goalIdleRSS    = 30 << 20
	goalLoadRSS    = 100 << 20
	goalStartup    = time.Second
	// goalMinimalRatio is the sender's throughput over the minimal Go HTTP
	// gateway's: what its auth, validation, logging, metrics, idempotency
	// and store may cost.
	goalMinimalRatio = 0.9
)

// Bounds of every load: a run ends even when a service hangs.
const (
	loadTimeout     = 90 * time.Second // one load's calls
	deliveryTimeout = 30 * time.Second // the last event of a batch to arrive
)

// fmtD prints a duration in milliseconds or seconds.
var fmtD = procrun.FormatDuration

// mib prints a byte count in MiB.
func mib(n int64) string { return procrun.FormatBytes(n) }

// fmtDiff prints a signed difference of durations.
func fmtDiff(d time.Duration) string {
	if d < 0 {
		return "-" + fmtD(-d)
	}
	return "+" + fmtD(d)
}

// fmtSeconds prints a histogram bound given in seconds.
func fmtSeconds(s float64) string {
	if math.IsNaN(s) || math.IsInf(s, 0) {
		return fmt.Sprint(s)
	}
	return fmtD(time.Duration(s * float64(time.Second)))
}
