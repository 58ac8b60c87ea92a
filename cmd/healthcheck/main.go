// Command healthcheck is the container HEALTHCHECK of the service images: it
// GETs a URL and exits 0 on a 2xx answer, 1 otherwise. The final images have
// no shell, curl or wget, so a static binary of a few lines does the job.
package main

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"time"

	"github.com/tgbotsvc/tgbot/internal/buildinfo"
)

func main() {
	if len(os.Args) == 2 && os.Args[1] == "-version" {
		fmt.Println("healthcheck", buildinfo.String())
		return
	}
	if len(os.Args) != 2 || os.Args[1] == "-h" || os.Args[1] == "--help" {
		fmt.Fprintln(os.Stderr, "usage: healthcheck <url> | -version   (exit 0 when the URL answers 2xx within 3s)")
		os.Exit(2)
	}
	if err := check(os.Args[1], 3*time.Second); err != nil {
		fmt.Fprintln(os.Stderr, "healthcheck:", err)
		os.Exit(1)
	}
}

func check(url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("%s answered %s", url, resp.Status)
	}
	return nil
}
