package main

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/tgbotsvc/tgbot/internal/httperror"
)

// maxFaultCount bounds one POST /faults.
const maxFaultCount = 1000

// Fault makes the next Count signed events answer Status instead of being
// handled: a permanent 4xx sends them to the receiver's dead letters, a 5xx
// (or 408, 409, 425, 429) makes the receiver retry them. With Text set only
// message events with exactly that text fail.
type Fault struct {
	Status int    `json:"status"`
	Count  int    `json:"count"`
	Text   string `json:"text,omitempty"`
}

// handleFaults sets the fault (POST /faults, enabled by DOWNSTREAM_FAULTS_API)
// and answers it; a count of 0 clears it.
func (s *Server) handleFaults(w http.ResponseWriter, r *http.Request) {
	var f Fault
	dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		httperror.Write(w, http.StatusBadRequest, httperror.Detail{Code: "invalid_argument", Message: "body: want {\"status\", \"count\", \"text\"}"})
		return
	}
	switch {
	case f.Count < 0 || f.Count > maxFaultCount:
		httperror.Write(w, http.StatusBadRequest, httperror.Detail{Code: "invalid_argument", Message: "count: want 0 to 1000", Field: "count"})
		return
	case f.Count > 0 && (f.Status < 400 || f.Status > 599):
		httperror.Write(w, http.StatusBadRequest, httperror.Detail{Code: "invalid_argument", Message: "status: want an HTTP error status, 400 to 599", Field: "status"})
		return
	}
	s.mu.Lock()
	s.fault = f
	s.mu.Unlock()
	s.log.Info("fault set (POST /faults)")
	writeJSON(w, http.StatusOK, f)
}

// takeFault uses up one failure of the fault set for ev, if there is one,
// and returns its status (0: handle ev normally).
func (s *Server) takeFault(ev Event) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.fault
	if f.Count == 0 || (f.Text != "" && (ev.Message == nil || ev.Message.Text != f.Text)) {
		return 0
	}
	s.fault.Count--
	s.state.Failed++
	return f.Status
}
