package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tgbotsvc/tgbot/examples/downstream/webhook"
)

// downstream is the service the receiver delivers to: it checks the
// signature (one HMAC, with the example downstream's webhook.Verify), records when each message event arrived, and
// answers 200 at once.
type downstream struct {
	secret string
	srv    *http.Server
	ln     net.Listener

	down    atomic.Bool  // answer 503 to every delivery (an outage)
	failBot atomic.Int64 // answer 503 to the events of this bot (0: none)

	mu       sync.Mutex
	arrivals map[string]arrival // by message text
	events   int
	badSigs  int
	badBody  int
}

// arrival is one delivered message event.
type arrival struct {
	at        time.Time
	messageID int
	eventID   string
}

func startDownstream(secret string) (*downstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("downstream: %w", err)
	}
	d := &downstream{secret: secret, ln: ln, arrivals: map[string]arrival{}}
	d.srv = &http.Server{
		Handler:           d,
		ReadHeaderTimeout: 5 * time.Second,
		IdleTimeout:       time.Minute,
	}
	go func() { _ = d.srv.Serve(ln) }()
	return d, nil
}

func (d *downstream) url() string { return "http://" + d.ln.Addr().String() + "/events" }

func (d *downstream) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return d.srv.Shutdown(ctx)
}

// eventBody is the part of the receiver's event the bench needs.
type eventBody struct {
	ID      string `json:"id"`
	BotID   int64  `json:"bot_id"`
	Type    string `json:"type"`
	Message *struct {
		ID   int    `json:"id"`
		Text string `json:"text"`
	} `json:"message"`
}

func (d *downstream) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := time.Now()
	if d.down.Load() {
		http.Error(w, "down", http.StatusServiceUnavailable)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "read", http.StatusBadRequest)
		return
	}
	if _, err := webhook.Verify(d.secret, r.Header, body, now, webhook.DefaultTolerance); err != nil {
		d.mu.Lock()
		d.badSigs++
		d.mu.Unlock()
		http.Error(w, err.Error(), http.StatusUnauthorized)
		return
	}
	var ev eventBody
	if err := json.Unmarshal(body, &ev); err != nil {
		d.mu.Lock()
		d.badBody++
		d.mu.Unlock()
		http.Error(w, "bad json", http.StatusBadRequest)
		return
	}
	if f := d.failBot.Load(); f != 0 && ev.BotID == f {
		http.Error(w, "down for this bot", http.StatusServiceUnavailable)
		return
	}
	d.mu.Lock()
	d.events++
	if ev.Message != nil {
		if _, seen := d.arrivals[ev.Message.Text]; !seen {
			d.arrivals[ev.Message.Text] = arrival{at: now, messageID: ev.Message.ID, eventID: ev.ID}
		}
	}
	d.mu.Unlock()
	w.WriteHeader(http.StatusOK)
}

// lookup returns the arrival of the message with text.
func (d *downstream) lookup(text string) (arrival, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	a, ok := d.arrivals[text]
	return a, ok
}

// waitAll waits until every text has arrived or timeout passes, and returns
// how many are still missing.
func (d *downstream) waitAll(ctx context.Context, texts []string, timeout time.Duration) int {
	deadline := time.Now().Add(timeout)
	next := 0
	for {
		d.mu.Lock()
		for next < len(texts) {
			if _, ok := d.arrivals[texts[next]]; !ok {
				break
			}
			next++
		}
		d.mu.Unlock()
		if next == len(texts) {
			return 0
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	missing := 0
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range texts[next:] {
		if _, ok := d.arrivals[t]; !ok {
			missing++
		}
	}
	return missing
}

// counters returns events received and rejected deliveries.
func (d *downstream) counters() (events, badSigs, badBody int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.events, d.badSigs, d.badBody
}
