package procrun

import (
	"fmt"
	"io"
	"strings"
)

// Status is the verdict of a row against its goal.
type Status string

// Row verdicts.
const (
	Pass Status = "PASS"
	Miss Status = "MISS"
	// Info rows have no goal of their own (a baseline, a detail).
	Info Status = "-"
	// Failed rows could not be measured; Measured says why.
	Failed Status = "ERROR"
)

// Row is one line of the benchmark table.
type Row struct {
	Metric   string
	Measured string
	Baseline string
	Compare  string // ratio or difference against Baseline
	Goal     string
	Status   Status
	// Note explains a MISS or an ERROR; it goes under the table in the
	// document, not into the table itself.
	Note string
}

// Check returns Pass when ok, else Miss.
func Check(ok bool) Status {
	if ok {
		return Pass
	}
	return Miss
}

// Table is the result of a benchmark run.
type Table struct {
	Rows []Row
}

// Add appends a row.
func (t *Table) Add(r Row) { t.Rows = append(t.Rows, r) }

// Fail appends a row for a measurement that could not be made.
func (t *Table) Fail(metric, goal string, err error) {
	t.Add(Row{Metric: metric, Measured: "error", Goal: goal, Status: Failed, Note: err.Error()})
}

var header = []string{"metric", "measured", "baseline", "ratio/diff", "goal", "result"}

func (r Row) cells() []string {
	return []string{r.Metric, r.Measured, dash(r.Baseline), dash(r.Compare), dash(r.Goal), string(r.Status)}
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// WriteText writes the table with aligned columns for a terminal.
func (t *Table) WriteText(w io.Writer) error {
	widths := make([]int, len(header))
	all := [][]string{header}
	for _, r := range t.Rows {
		all = append(all, r.cells())
	}
	for _, cells := range all {
		for i, c := range cells {
			widths[i] = max(widths[i], len(c))
		}
	}
	var b strings.Builder
	for n, cells := range all {
		for i, c := range cells {
			if i > 0 {
				b.WriteString("  ")
			}
			fmt.Fprintf(&b, "%-*s", widths[i], c)
		}
		b.WriteString("\n")
		if n == 0 {
			for i, wd := range widths {
				if i > 0 {
					b.WriteString("  ")
				}
				b.WriteString(strings.Repeat("-", wd))
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteMarkdown writes the table as a GitHub Markdown table.
func (t *Table) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| " + strings.Join(header, " | ") + " |\n")
	b.WriteString("|" + strings.Repeat("---|", len(header)) + "\n")
	for _, r := range t.Rows {
		cells := r.cells()
		for i, c := range cells {
			cells[i] = strings.ReplaceAll(c, "|", `\|`)
		}
		if r.Status == Miss || r.Status == Failed {
			cells[len(cells)-1] = "**" + cells[len(cells)-1] + "**"
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Misses returns the rows that missed their goal or failed.
func (t *Table) Misses() []Row {
	var out []Row
	for _, r := range t.Rows {
		if r.Status == Miss || r.Status == Failed {
			out = append(out, r)
		}
	}
	return out
}
