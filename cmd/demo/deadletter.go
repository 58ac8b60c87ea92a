package main

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
)

// deadText is the message the downstream fails on purpose in the
// dead-letter steps.
const deadText = "This one goes to the dead letters"

// deadLetter is an entry of the receiver's GET /admin/dead-letters.
type deadLetter struct {
	Event struct {
		ID      string `json:"id"`
		Message *struct {
			Text string `json:"text"`
		} `json:"message"`
	} `json:"event"`
	Attempts  int    `json:"attempts"`
	LastError string `json:"last_error"`
}

func (sc *script) receiver(path string) string { return "http://" + sc.s.addr.receiver + path }

// deadLetters lists the receiver's dead letters (admin API).
func (sc *script) deadLetters(ctx context.Context) ([]deadLetter, error) {
	var out struct {
		DeadLetters []deadLetter `json:"dead_letters"`
	}
	if err := sc.s.call(ctx, http.MethodGet, sc.receiver("/admin/dead-letters"), sc.s.adminToken, nil, &out); err != nil {
		return nil, fmt.Errorf("GET /admin/dead-letters: %w", err)
	}
	return out.DeadLetters, nil
}

// deadLetterStep makes the downstream answer 422 (a permanent failure) to
// the user's next message and waits for the receiver to dead-letter it.
func (sc *script) deadLetterStep(ctx context.Context) error {
	fault := map[string]any{"status": http.StatusUnprocessableEntity, "count": 1, "text": deadText}
	if err := sc.s.call(ctx, http.MethodPost, sc.downstream("/faults"), "", fault, nil); err != nil {
		return fmt.Errorf("downstream POST /faults: %w", err)
	}
	fmt.Fprintf(sc.out, "      demo: POST /faults at the downstream: the event of %q gets 422\n", deadText)
	path := fmt.Sprintf("/v1/users/%d/messages", sc.userID)
	if err := sc.s.call(ctx, http.MethodPost, sc.emu(path), "", map[string]any{"text": deadText, "bot_id": demoBotID}, nil); err != nil {
		return fmt.Errorf("user message: %w", err)
	}
	for {
		dead, err := sc.deadLetters(ctx)
		if err != nil {
			return err
		}
		for _, d := range dead {
			if d.Event.Message != nil && d.Event.Message.Text == deadText {
				sc.deadID = d.Event.ID
				if _, err := sc.readChat(ctx); err != nil {
					return err
				}
				fmt.Fprintf(sc.out, "      receiver: GET /admin/dead-letters -> %s after %d attempt(s): %s\n", d.Event.ID, d.Attempts, d.LastError)
				return nil
			}
		}
		if err := sleep(ctx); err != nil {
			return fmt.Errorf("no dead letter with the text %q (dead letters: %d)", deadText, len(dead))
		}
	}
}

// replayStep replays the dead letter of deadLetterStep and waits for the
// downstream's answer to reach the chat.
func (sc *script) replayStep(ctx context.Context) error {
	var out struct {
		Replayed []string `json:"replayed"`
	}
	path := "/admin/dead-letters/" + url.PathEscape(sc.deadID) + "/replay"
	if err := sc.s.call(ctx, http.MethodPost, sc.receiver(path), sc.s.adminToken, nil, &out); err != nil {
		return fmt.Errorf("POST %s: %w", path, err)
	}
	if len(out.Replayed) != 1 || out.Replayed[0] != sc.deadID {
		return fmt.Errorf("POST %s replayed %v, want [%s]", path, out.Replayed, sc.deadID)
	}
	fmt.Fprintf(sc.out, "      receiver: POST %s -> back into the outbox\n", path)
	if _, err := sc.waitBot(ctx, exactText("You said: "+deadText)); err != nil {
		return err
	}
	dead, err := sc.deadLetters(ctx)
	if err != nil {
		return err
	}
	if len(dead) != 0 {
		return fmt.Errorf("%d dead letters left after the replay", len(dead))
	}
	fmt.Fprintln(sc.out, "      receiver: no dead letters left")
	return nil
}
