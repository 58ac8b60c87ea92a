// Package httperror writes the JSON error body both services answer with:
// {"error": {"code": "...", "message": "..."}} and, where the caller has
// them, "field" and "retry_after" inside "error". Which status an error
// gets stays with each service's one mapping function; this package only
// fixes the shape and the Content-Type.
package httperror

import (
	"encoding/json"
	"net/http"
)

// Detail is the object under "error".
type Detail struct {
	Code    string `json:"code"`
	Message string `json:"message"`
	Field   string `json:"field,omitempty"`
}

// Body is the whole error response.
type Body[D any] struct {
	Error D `json:"error"`
}

// Write answers with status and {"error": detail}. detail is a Detail or a
// service's own type with the same "code" and "message" members (plus
// optional ones).
func Write[D any](w http.ResponseWriter, status int, detail D) {
	WriteJSON(w, status, Body[D]{Error: detail})
}

// WriteCode answers with status and {"error": {"code": code, "message": message}}.
func WriteCode(w http.ResponseWriter, status int, code, message string) {
	Write(w, status, Detail{Code: code, Message: message})
}

// NotFound is a handler for unknown routes (chi's NotFound).
func NotFound(w http.ResponseWriter, _ *http.Request) {
	WriteCode(w, http.StatusNotFound, "not_found", "no such route")
}

// MethodNotAllowed is a handler for a known route asked with the wrong
// method (chi's MethodNotAllowed; chi sets the Allow header first).
func MethodNotAllowed(w http.ResponseWriter, _ *http.Request) {
	WriteCode(w, http.StatusMethodNotAllowed, "method_not_allowed", "method not allowed")
}

// WriteJSON answers with status and v as JSON. HTML is not escaped, so
// texts and messages stay readable ("<b>", not "\u003cb\u003e").
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}
