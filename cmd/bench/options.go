package main

import "time"

// Options size the benchmark. Zero values take the defaults of the mode
// (full or -quick) in setDefaults.
type Options struct {
	// BinDir holds tgemu, sender and receiver.
	BinDir string
	// Out is the Markdown report; "" writes none.
	Out string
	// WorkDir holds the services' data dirs and logs; "" means a temp dir.
	WorkDir string
	// Keep keeps WorkDir after the run.
	Keep bool
	// Quick selects the small defaults.
	Quick bool
	// LogLevel of the services.
	LogLevel string

	// N send_message calls per client kind, from Concurrency clients.
	N           int
	Concurrency int
	// M user messages pushed for the receiver load, twice: as fast as
	// possible, then at PacedRate messages/s for the latency rows.
	M         int
	PacedRate float64
	// Bulk recipients, sent at BulkRate messages/s.
	Bulk     int
	BulkRate int
	// DocMB is the size of the generated document.
	DocMB int
	// Outage is how many messages users write while the downstream is
	// down (the receiver's memory during a long outage).
	Outage int
	// Bots is how many bots one receiver serves in the many-bots run.
	Bots int
	// Timeout bounds the whole run.
	Timeout time.Duration
	// Profile is when to record CPU profiles of the send and receive loads
	// in-process: "auto" (when their goals are missed), "always", "never".
	Profile string
}

// DefaultOptions are the sizes of a full run (quick=false: under 6 minutes
// on 2 cores) or of a -quick run (a few seconds of load, for tests).
func DefaultOptions(quick bool) Options {
	if quick {
		return Options{
			BinDir: "bin", LogLevel: "warn",
			N: 300, Concurrency: 8, M: 300, Bulk: 200, BulkRate: 200, DocMB: 12, Outage: 1000, Bots: 10,
			Timeout: 150 * time.Second, Profile: "never",
		}
	}
	return Options{
		BinDir: "bin", LogLevel: "info",
		N: 10000, Concurrency: 16, M: 10000, Bulk: 10000, BulkRate: 1000, DocMB: 50, Outage: 100000, Bots: 100,
		Timeout: 6 * time.Minute, Profile: "auto",
	}
}

func (o *Options) setDefaults() {
	d := DefaultOptions(o.Quick)
	if o.BinDir == "" {
		o.BinDir = d.BinDir
	}
	if o.LogLevel == "" {
		o.LogLevel = d.LogLevel
	}
	setInt := func(v *int, def int) {
		if *v <= 0 {
			*v = def
		}
	}
	setInt(&o.N, d.N)
	setInt(&o.Concurrency, d.Concurrency)
	setInt(&o.M, d.M)
	setInt(&o.Bulk, d.Bulk)
	setInt(&o.BulkRate, d.BulkRate)
	setInt(&o.DocMB, d.DocMB)
	setInt(&o.Outage, d.Outage)
	setInt(&o.Bots, d.Bots)
	if o.Timeout <= 0 {
		o.Timeout = d.Timeout
	}
	if o.PacedRate <= 0 {
		o.PacedRate = goalEventsRate
	}
	if o.Profile == "" {
		o.Profile = d.Profile
	}
}

// users is how many emulated users the run creates: every recipient of the
// bulk send and of each send load is a distinct user, so the 1/s per chat
// limit never applies to the throughput loads.
func (o *Options) users() int {
	return max(o.Bulk, o.N, 1)
}
