// Package web is the emulator's page: plain HTML, CSS and JavaScript,
// embedded in the binary (no CDN, no build step), served by the control
// API at "/". The page lists the users and groups, shows a chat as the
// selected user sees it and writes as that user, following the control
// API's event stream (GET /v1/events) so the bot's answers, edits,
// deletions, pins and chat actions appear live;
// a panel sets limits, injects faults, drops connections and shows the
// RPC stats. Everything it does goes through the control API.
package web

import (
	"embed"
	"io/fs"
	"net/http"
)

//go:embed static
var static embed.FS

// Handler serves the page at "/" and its files under "/assets/".
func Handler() http.Handler {
	sub, err := fs.Sub(static, "static")
	if err != nil {
		panic(err) // the embedded tree always has "static"
	}
	files := http.FileServerFS(sub)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Content-Security-Policy", "default-src 'self'; img-src 'self' data:; style-src 'self'")
		files.ServeHTTP(w, r)
	})
}
