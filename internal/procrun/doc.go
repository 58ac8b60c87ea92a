// Package procrun runs our binaries as child processes and measures them,
// for the benchmark tool (cmd/bench) and the demo (cmd/demo): it starts
// them, waits for them to be ready, measures them from the outside (time
// to ready, VmRSS/VmHWM from /proc), runs bounded concurrent loads with
// latency percentiles, streams generated files through multipart
// requests, describes the machine, and renders the result table as text and
// Markdown.
//
// Limitations:
//   - Linux only: memory is read from /proc/<pid>/status.
//   - FreeAddr hands out a port that was free a moment ago; another program
//     may take it before the child binds it (the child then fails to start
//     and the error says so).
package procrun
