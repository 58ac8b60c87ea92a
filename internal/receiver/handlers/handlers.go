// Package handlers lists the receiver's handlers: the one place where they
// are registered. Adding one is a new file in this package with a
// handler.HandlerFunc and one line in Register.
package handlers

import (
	"github.com/tgbotsvc/tgbot/internal/receiver/handler"
)

// Register adds every handler to r. Routes are tried in this order; the
// first match wins.
func Register(r *handler.Router) {
	r.Command("familiarize", handler.HandlerFunc(Familiarize))
}
