package main

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// result is what the run found.
type result struct {
	sent, delivered, repeated int
	lost, outOfOrder          int
	takeover, leaseTTL        time.Duration
	otherWebhookID            int // a text delivered again under another webhook-id
}

func (r result) ok() bool { return r.lost == 0 && r.outOfOrder == 0 && r.otherWebhookID == 0 }

func (r result) String() string {
	verdict := "nothing lost"
	if !r.ok() {
		verdict = "EVENTS LOST OR REORDERED"
	}
	return fmt.Sprintf(`
takeover after kill -9 of the active receiver: %s (RECEIVER_LEASE_TTL %s; the goal is at most TTL + 1 s)
sent %d messages; delivered %d (%d again, same webhook-id; %d again under another)
lost %d, out of order %d: %s
`, r.takeover.Round(time.Millisecond), r.leaseTTL, r.sent, r.delivered, r.repeated, r.otherWebhookID, r.lost, r.outOfOrder, verdict)
}

// play makes the users write, kills the active receiver after a third of
// the messages and checks what reached the downstream.
func (s *stack) play(ctx context.Context, rs *receivers) (result, error) {
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	res := result{leaseTTL: s.cfg.LeaseTTL}
	users := make([]int64, s.cfg.Chats)
	for i := range users {
		var u struct {
			ID int64 `json:"id"`
		}
		in := map[string]string{"first_name": fmt.Sprintf("User%d", i), "username": fmt.Sprintf("scale_user_%d", i)}
		if err := procrun.DoJSON(ctx, s.http, http.MethodPost, "http://"+s.ends.emuHTTP+"/v1/users", "", in, &u); err != nil {
			return res, fmt.Errorf("create user: %w", err)
		}
		users[i] = u.ID
	}
	fmt.Fprintf(s.out, "\n%d users write %d messages each; the active receiver is killed after a third of them\n",
		s.cfg.Chats, s.cfg.Messages)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var sendErr error
	third := make(chan struct{})
	var once sync.Once
	for _, id := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range s.cfg.Messages {
				if i == s.cfg.Messages/3 {
					once.Do(func() { close(third) })
				}
				in := map[string]any{"text": fmt.Sprintf("m %03d", i)}
				if err := procrun.DoJSON(ctx, s.http, http.MethodPost, fmt.Sprintf("http://%s/v1/users/%d/messages", s.ends.emuHTTP, id), "", in, nil); err != nil {
					mu.Lock()
					sendErr = err
					mu.Unlock()
					return
				}
				mu.Lock()
				res.sent++
				mu.Unlock()
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
	select {
	case <-third:
	case <-ctx.Done():
		return res, ctx.Err()
	}
	if err := syscall.Kill(rs.procs[0].PID(), syscall.SIGKILL); err != nil {
		return res, err
	}
	<-rs.procs[0].Exited()
	killed := time.Now()
	fmt.Fprintf(s.out, "  killed receiver1 (pid %d) with SIGKILL\n", rs.procs[0].PID())
	if err := s.waitRole(ctx, rs.addr[1], "active", s.cfg.LeaseTTL+30*time.Second); err != nil {
		return res, err
	}
	res.takeover = time.Since(killed)
	wg.Wait()
	if sendErr != nil {
		return res, fmt.Errorf("send: %w", sendErr)
	}
	return res, s.check(ctx, &res)
}

// check waits until every message reached the downstream (or ctx ends) and
// counts what is missing, out of order or delivered again.
func (s *stack) check(ctx context.Context, res *result) error {
	want := s.cfg.Chats * s.cfg.Messages
	for {
		var st struct {
			Events []struct {
				WebhookID string `json:"webhook_id"`
				Type      string `json:"type"`
				ChatID    int64  `json:"chat_id"`
				Text      string `json:"text"`
			} `json:"events"`
			Duplicates int `json:"duplicates"`
		}
		if err := procrun.DoJSON(ctx, s.http, http.MethodGet, "http://"+s.ends.downstream+"/state", "", nil, &st); err != nil {
			return fmt.Errorf("downstream state: %w", err)
		}
		idOf := map[string]string{}
		next := map[int64]int{}
		*res = result{sent: res.sent, takeover: res.takeover, leaseTTL: res.leaseTTL, repeated: st.Duplicates}
		for _, ev := range st.Events {
			if ev.Type != "message" || !strings.HasPrefix(ev.Text, "m ") {
				continue
			}
			key := fmt.Sprintf("%d/%s", ev.ChatID, ev.Text)
			if prev, ok := idOf[key]; ok {
				res.repeated++
				if prev != ev.WebhookID {
					res.otherWebhookID++
				}
				continue
			}
			idOf[key] = ev.WebhookID
			res.delivered++
			var n int
			if _, err := fmt.Sscanf(ev.Text, "m %d", &n); err == nil {
				if n != next[ev.ChatID] {
					res.outOfOrder++
				}
				next[ev.ChatID] = n + 1
			}
		}
		res.lost = want - res.delivered
		if res.lost == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil // reported as lost
		case <-time.After(100 * time.Millisecond):
		}
	}
}
