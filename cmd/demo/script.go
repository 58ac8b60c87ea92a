package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// chatMessage is a message of the emulator's GET /v1/users/{id}/messages.
type chatMessage struct {
	ID       int    `json:"id"`
	Out      bool   `json:"out"`
	Text     string `json:"text"`
	Document *struct {
		Name     string `json:"name"`
		Size     int64  `json:"size"`
		MimeType string `json:"mime_type"`
		SHA256   string `json:"sha256"`
	} `json:"document"`
}

// downstreamState is the downstream's GET /state.
type downstreamState struct {
	Users []struct {
		Name   string `json:"name"`
		ChatID int64  `json:"chat_id"`
	} `json:"users"`
	Events []struct {
		WebhookID string `json:"webhook_id"`
		Type      string `json:"type"`
		ChatID    int64  `json:"chat_id"`
		Text      string `json:"text"`
	} `json:"events"`
	Replies []struct {
		ChatID    int64  `json:"chat_id"`
		Text      string `json:"text"`
		MessageID int    `json:"message_id"`
	} `json:"replies"`
	Rejected int `json:"rejected"`
}

// script plays the demo conversation against a running stack.
type script struct {
	s       *stack
	out     io.Writer
	userID  int64
	user    string // the user's @username, without the @
	deadID  string // the event ID of the dead-letter steps
	lastMsg int    // highest chat message ID printed so far
	step    int
}

// stepError names the step that failed.
type stepError struct {
	n    int
	name string
	err  error
}

func (e *stepError) Error() string { return fmt.Sprintf("step %d (%s) failed: %v", e.n, e.name, e.err) }
func (e *stepError) Unwrap() error { return e.err }

// do runs one step under the step timeout.
func (sc *script) do(ctx context.Context, name string, fn func(ctx context.Context) error) error {
	sc.step++
	ctx, cancel := context.WithTimeout(ctx, sc.s.cfg.StepTimeout)
	defer cancel()
	if err := fn(ctx); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("%w (no success within %s)", err, sc.s.cfg.StepTimeout)
		}
		return &stepError{n: sc.step, name: name, err: err}
	}
	fmt.Fprintf(sc.out, "  ok  %d. %s\n", sc.step, name)
	return nil
}

// play runs every step; the first failure stops it.
func (sc *script) play(ctx context.Context) error {
	name := sc.s.cfg.UserName
	text := "Hello from the demo!"
	steps := []struct {
		name string
		fn   func(ctx context.Context) error
	}{
		{"create an emulated user", func(ctx context.Context) error { return sc.createUser(ctx, name) }},
		{"user sends /familiarize, bot asks the name", func(ctx context.Context) error {
			return sc.sayAndWait(ctx, "/familiarize", exactText(askName))
		}},
		{"a bad name (123) is asked again", func(ctx context.Context) error { return sc.sayAndWait(ctx, "123", exactText(askName)) }},
		{"a good name is greeted", func(ctx context.Context) error {
			return sc.sayAndWait(ctx, name, exactText("Nice to meet you "+name+"!"))
		}},
		{"downstream received the signed user.create", func(ctx context.Context) error { return sc.waitUserCreated(ctx, name) }},
		{"downstream received the conversation's message events", sc.waitMessageEvents},
		{"a text is answered by the downstream through the sender", func(ctx context.Context) error {
			return sc.sayAndWait(ctx, text, exactText("You said: "+text))
		}},
		{"downstream recorded its reply", func(ctx context.Context) error { return sc.waitReply(ctx, "You said: "+text) }},
		{"a document is created once and sent with the right sha256", sc.sendDocument},
		{"a downstream failure (422) sends the event to the dead letters", sc.deadLetterStep},
		{"the dead letter is replayed and answered", sc.replayStep},
	}
	fmt.Fprintln(sc.out, "\nscripted conversation:")
	for _, st := range steps {
		if err := sc.do(ctx, st.name, st.fn); err != nil {
			return err
		}
	}
	fmt.Fprintf(sc.out, "\nall %d steps of the round trip passed\n", len(steps))
	return nil
}

func (sc *script) emu(path string) string        { return "http://" + sc.s.addr.emuHTTP + path }
func (sc *script) sender(path string) string     { return "http://" + sc.s.addr.sender + path }
func (sc *script) downstream(path string) string { return "http://" + sc.s.addr.downstream + path }

func (sc *script) createUser(ctx context.Context, name string) error {
	var out struct {
		ID int64 `json:"id"`
	}
	sc.user = strings.ToLower(name) + "_demo"
	body := map[string]any{"first_name": name, "username": sc.user}
	if err := sc.s.call(ctx, http.MethodPost, sc.emu("/v1/users"), "", body, &out); err != nil {
		return err
	}
	if out.ID == 0 {
		return fmt.Errorf("emulator returned no user id")
	}
	sc.userID = out.ID
	fmt.Fprintf(sc.out, "  (user %q has ID %d; the bot is %d)\n", name, out.ID, demoBotID)
	return nil
}

// askName is the question of the receiver's /familiarize conversation.
const askName = "What is your name?"

type matcher func(chatMessage) bool

func exactText(want string) matcher { return func(m chatMessage) bool { return m.Text == want } }

// sayAndWait makes the user write text and waits for a new bot message
// matching want, printing the chat as it goes.
func (sc *script) sayAndWait(ctx context.Context, text string, want matcher) error {
	path := fmt.Sprintf("/v1/users/%d/messages", sc.userID)
	body := map[string]any{"text": text, "bot_id": demoBotID}
	if err := sc.s.call(ctx, http.MethodPost, sc.emu(path), "", body, nil); err != nil {
		return fmt.Errorf("user message: %w", err)
	}
	_, err := sc.waitBot(ctx, want)
	return err
}

// waitBot polls the chat, prints new messages and returns the first new bot
// message matching want.
func (sc *script) waitBot(ctx context.Context, want matcher) (chatMessage, error) {
	var lastBot string
	for {
		msgs, err := sc.readChat(ctx)
		if err != nil {
			return chatMessage{}, err
		}
		for _, m := range msgs {
			if m.Out {
				lastBot = describe(m)
				if want(m) {
					return m, nil
				}
			}
		}
		if err := sleep(ctx); err != nil {
			if lastBot == "" {
				return chatMessage{}, fmt.Errorf("the bot did not answer")
			}
			return chatMessage{}, fmt.Errorf("the bot's last message was %s", lastBot)
		}
	}
}

// readChat prints and returns the chat's messages not printed yet.
func (sc *script) readChat(ctx context.Context) ([]chatMessage, error) {
	url := sc.emu(fmt.Sprintf("/v1/users/%d/messages?bot_id=%d", sc.userID, demoBotID))
	var chat struct {
		Messages []chatMessage `json:"messages"`
	}
	if err := sc.s.call(ctx, http.MethodGet, url, "", nil, &chat); err != nil {
		return nil, fmt.Errorf("read the chat: %w", err)
	}
	var fresh []chatMessage
	for _, m := range chat.Messages {
		if m.ID <= sc.lastMsg {
			continue
		}
		sc.lastMsg = m.ID
		sc.print(m)
		fresh = append(fresh, m)
	}
	return fresh, nil
}

func (sc *script) print(m chatMessage) {
	who := "user"
	if m.Out {
		who = "bot "
	}
	fmt.Fprintf(sc.out, "      %s > %s\n", who, describe(m))
}

func describe(m chatMessage) string {
	if m.Document == nil {
		return fmt.Sprintf("%q", m.Text)
	}
	s := fmt.Sprintf("[document %s, %d bytes, sha256 %.16s…]", m.Document.Name, m.Document.Size, m.Document.SHA256)
	if m.Text != "" {
		s += fmt.Sprintf(" %q", m.Text)
	}
	return s
}

// pollState polls the downstream's /state until ok accepts it.
func (sc *script) pollState(ctx context.Context, ok func(downstreamState) (bool, error)) error {
	for {
		var st downstreamState
		if err := sc.s.call(ctx, http.MethodGet, sc.downstream("/state"), "", nil, &st); err != nil {
			return fmt.Errorf("downstream state: %w", err)
		}
		done, why := ok(st)
		if done {
			return nil
		}
		if err := sleep(ctx); err != nil {
			if st.Rejected > 0 {
				return fmt.Errorf("%v (the downstream rejected %d deliveries: bad signatures)", why, st.Rejected)
			}
			return why
		}
	}
}

func (sc *script) waitUserCreated(ctx context.Context, name string) error {
	return sc.pollState(ctx, func(st downstreamState) (bool, error) {
		for _, u := range st.Users {
			if u.Name == name && u.ChatID == sc.userID {
				fmt.Fprintf(sc.out, "      downstream: user.create verified, created user %q for chat %d\n", u.Name, u.ChatID)
				return true, nil
			}
		}
		return false, fmt.Errorf("no user %q with chat_id %d at the downstream (users: %+v)", name, sc.userID, st.Users)
	})
}

func (sc *script) waitMessageEvents(ctx context.Context) error {
	want := []string{"/familiarize", "123", sc.s.cfg.UserName}
	return sc.pollState(ctx, func(st downstreamState) (bool, error) {
		seen := map[string]string{}
		for _, e := range st.Events {
			if e.Type == "message" && e.ChatID == sc.userID {
				seen[e.Text] = e.WebhookID
			}
		}
		for _, w := range want {
			if _, ok := seen[w]; !ok {
				return false, fmt.Errorf("no message event %q from chat %d at the downstream", w, sc.userID)
			}
		}
		for _, w := range want {
			fmt.Fprintf(sc.out, "      downstream: event %-24s message %q (not answered: a command or part of its conversation)\n", seen[w], w)
		}
		return true, nil
	})
}

func (sc *script) waitReply(ctx context.Context, text string) error {
	return sc.pollState(ctx, func(st downstreamState) (bool, error) {
		for _, r := range st.Replies {
			if r.ChatID == sc.userID && r.Text == text {
				fmt.Fprintf(sc.out, "      downstream: answered via POST /api_v1/send_message -> message_id %d\n", r.MessageID)
				return true, nil
			}
		}
		return false, fmt.Errorf("no reply %q recorded by the downstream", text)
	})
}

// sendDocument uploads a document once, sends it to the user and checks the
// chat shows it with the same sha256.
func (sc *script) sendDocument(ctx context.Context) error {
	content := bytes.Repeat([]byte("tgbot demo document: uploaded once, sent by id.\n"), 1000)
	sum := sha256.Sum256(content)
	wantSum := hex.EncodeToString(sum[:])

	var created struct {
		DocumentID string `json:"document_id"`
	}
	if err := procrun.PostMultipart(ctx, sc.s.http, sc.sender("/api_v1/create_document"), sc.s.apiToken,
		"document", "demo.txt", bytes.NewReader(content), &created); err != nil {
		return fmt.Errorf("create_document: %w", err)
	}
	if created.DocumentID == "" {
		return fmt.Errorf("create_document returned no document_id")
	}
	fmt.Fprintf(sc.out, "      demo: POST /api_v1/create_document (%d bytes) -> document_id %s\n", len(content), created.DocumentID)

	body := map[string]any{"chat_id": sc.userID, "document_id": created.DocumentID, "caption": "The demo document"}
	if err := sc.s.call(ctx, http.MethodPost, sc.sender("/api_v1/send_document"), sc.s.apiToken, body, nil); err != nil {
		return fmt.Errorf("send_document: %w", err)
	}
	fmt.Fprintf(sc.out, "      demo: POST /api_v1/send_document {chat_id: %d, document_id: ...}\n", sc.userID)
	m, err := sc.waitBot(ctx, func(m chatMessage) bool { return m.Document != nil })
	if err != nil {
		return err
	}
	if m.Document.SHA256 != wantSum {
		return fmt.Errorf("the chat's document has sha256 %s, want %s", m.Document.SHA256, wantSum)
	}
	fmt.Fprintf(sc.out, "      chat: document sha256 matches %s\n", wantSum)
	return nil
}

// sleep waits one polling interval; it fails when ctx is done.
func sleep(ctx context.Context) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(100 * time.Millisecond):
		return nil
	}
}

// call is procrun.DoJSON with the demo's client.
func (s *stack) call(ctx context.Context, method, url, token string, in, out any) error {
	return procrun.DoJSON(ctx, s.http, method, url, token, in, out)
}
