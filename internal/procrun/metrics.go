package procrun

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
)

// Histogram is a Prometheus histogram's cumulative bucket counts by upper
// bound (le), as scraped from a /metrics page.
type Histogram map[float64]float64

// ScrapeHistogram reads the buckets of the histogram name (no labels other
// than le) from the Prometheus text page at url.
func ScrapeHistogram(ctx context.Context, c *http.Client, url, name string) (Histogram, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("scrape %s: %s", url, resp.Status)
	}
	h := Histogram{}
	prefix := name + `_bucket{le="`
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), prefix)
		if !ok {
			continue
		}
		le, val, ok := strings.Cut(rest, `"} `)
		if !ok {
			continue
		}
		bound, err := strconv.ParseFloat(le, 64) // "+Inf" parses
		if err != nil {
			continue
		}
		n, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
		if err != nil {
			continue
		}
		h[bound] = n
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("scrape: %w", err)
	}
	if len(h) == 0 {
		return nil, fmt.Errorf("scrape %s: no histogram %s", url, name)
	}
	return h, nil
}

// Quantile returns the upper bound of the bucket holding the q-quantile
// (0 < q <= 1) of the observations made between before and h. It is an
// upper estimate, as precise as the buckets; NaN when nothing was observed.
func (h Histogram) Quantile(before Histogram, q float64) float64 {
	bounds := make([]float64, 0, len(h))
	for b := range h {
		bounds = append(bounds, b)
	}
	slices.Sort(bounds)
	total := h[math.Inf(1)] - before[math.Inf(1)]
	if total <= 0 {
		return math.NaN()
	}
	for _, b := range bounds {
		if h[b]-before[b] >= q*total {
			return b
		}
	}
	return math.Inf(1)
}
