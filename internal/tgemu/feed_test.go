package tgemu_test

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gotd/td/telegram/uploader"
	"github.com/gotd/td/tg"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// sseReader reads the "event:"/"data:" pairs of a server-sent event stream.
type sseReader struct {
	t      *testing.T
	events chan tgemu.Event
}

func openEvents(t *testing.T, base string) *sseReader {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/events", nil)
	require.NoError(t, err)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Equal(t, "text/event-stream", resp.Header.Get("Content-Type"))
	r := &sseReader{t: t, events: make(chan tgemu.Event, 64)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(resp.Body)
		var typ string
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "event: "):
				typ = strings.TrimPrefix(line, "event: ")
			case strings.HasPrefix(line, "data: "):
				var e tgemu.Event
				if json.Unmarshal([]byte(strings.TrimPrefix(line, "data: ")), &e) == nil && e.Type == typ {
					select {
					case r.events <- e:
					default: // the test stopped reading
					}
				}
			}
		}
	}()
	t.Cleanup(func() {
		cancel()
		resp.Body.Close()
		<-done
	})
	return r
}

// next returns the next event of type typ, skipping others.
func (r *sseReader) next(typ string) tgemu.Event {
	r.t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case e := <-r.events:
			if e.Type == typ {
				return e
			}
		case <-timeout:
			r.t.Fatalf("no %s event within 10s", typ)
		}
	}
}

func TestPageEventsAndDocuments(t *testing.T) {
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) { c.HTTPAddr = "127.0.0.1:0" }))
	base := "http://" + env.Server.HTTPAddr()
	api := apiClient{t: t, base: base}

	// The page and its files are served from the binary.
	status, body := api.do("GET", "/", nil)
	require.Equal(t, 200, status)
	require.Contains(t, body["raw"], `<form id="composer">`)
	status, body = api.do("GET", "/assets/app.js", nil)
	require.Equal(t, 200, status)
	require.Contains(t, body["raw"], "new EventSource('/v1/events')")

	events := openEvents(t, base)
	status, body = api.do("POST", "/v1/users", map[string]string{"first_name": "Ivy"})
	require.Equal(t, 201, status, body)
	userID := int64(body["id"].(float64))
	events.next("accounts")
	u := fmt.Sprintf("/v1/users/%d", userID)
	user := &tg.InputPeerUser{UserID: userID}

	data := []byte("report body\n")
	sum := sha256.Sum256(data)
	botSession(t, env, func(ctx context.Context, c *tg.Client) {
		status, body := api.do("POST", u+"/messages", map[string]any{"text": "hello"})
		require.Equal(t, 201, status, body)
		e := events.next("message")
		require.Equal(t, userID, e.UserID, "the user's message announces the user's chat")
		require.NotZero(t, e.BotID)

		f, err := uploader.NewUploader(c).FromBytes(ctx, "report.txt", data)
		require.NoError(t, err)
		res, err := c.MessagesSendMedia(ctx, &tg.MessagesSendMediaRequest{
			Peer: user, Message: "your report", RandomID: randomID.Add(1),
			Media: &tg.InputMediaUploadedDocument{File: f, MimeType: "text/plain"},
			ReplyMarkup: &tg.ReplyInlineMarkup{Rows: []tg.KeyboardInlineButtonRow{{Buttons: []tg.KeyboardInlineButton{
				{Text: "Thanks", Type: &tg.InlineButtonTypeCallback{Data: []byte("thanks")}},
			}}}},
		})
		require.NoError(t, err)
		msgID, doc := sentDocument(t, res)
		e = events.next("message")
		require.Equal(t, userID, e.UserID, "the bot's send announces the same chat")

		// The document's bytes, as the page's download link fetches them.
		resp, err := http.Get(fmt.Sprintf("%s/v1/documents/%d", base, doc.ID))
		require.NoError(t, err)
		got, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode)
		require.Equal(t, data, got)
		require.Equal(t, "text/plain", resp.Header.Get("Content-Type"))
		require.Equal(t, `attachment; filename=report.txt`, resp.Header.Get("Content-Disposition"))
		status, body = api.do("GET", u+"/messages", nil)
		require.Equal(t, 200, status)
		msgs := body["messages"].([]any)
		last := msgs[len(msgs)-1].(map[string]any)["document"].(map[string]any)
		require.Equal(t, hex.EncodeToString(sum[:]), last["sha256"])

		// A button press and the bot's answer.
		status, body = api.do("POST", u+"/callbacks", map[string]any{"message_id": msgID, "data": "thanks"})
		require.Equal(t, 201, status, body)
		var queryID int64
		require.Eventually(t, func() bool {
			diff, err := c.UpdatesGetDifference(ctx, &tg.UpdatesGetDifferenceRequest{Pts: 1, Date: int(time.Now().Unix())})
			require.NoError(t, err)
			d, ok := diff.(*tg.UpdatesDifference)
			if !ok {
				return false
			}
			for _, upd := range d.OtherUpdates {
				if q, ok := upd.(*tg.UpdateBotCallbackQuery); ok {
					queryID = q.QueryID
				}
			}
			return queryID != 0
		}, 10*time.Second, 50*time.Millisecond)
		_, err = c.MessagesSetBotCallbackAnswer(ctx, &tg.MessagesSetBotCallbackAnswerRequest{QueryID: queryID, Message: "You're welcome", Alert: true})
		require.NoError(t, err)
		e = events.next("callback_answer")
		require.Equal(t, tgemu.Event{Type: "callback_answer", BotID: e.BotID, UserID: userID, MsgID: msgID, Message: "You're welcome", Alert: true}, e)
	})

	status, body = api.do("POST", "/v1/groups", map[string]any{"title": "Crew", "member_ids": []int64{userID}})
	require.Equal(t, 201, status, body)
	groupID := int64(body["id"].(float64))
	events.next("accounts")
	status, body = api.do("GET", "/v1/groups", nil)
	require.Equal(t, 200, status)
	groups := body["groups"].([]any)
	require.Len(t, groups, 1)
	require.Equal(t, "Crew", groups[0].(map[string]any)["title"])
	status, body = api.do("POST", fmt.Sprintf("/v1/groups/%d/messages", groupID), map[string]any{"user_id": userID, "text": "hi all"})
	require.Equal(t, 201, status, body)
	require.Equal(t, groupID, events.next("message").ChatID)

	for path, want := range map[string]int{"/v1/documents/999": 404, "/v1/documents/x": 400} {
		status, body := api.do("GET", path, nil)
		require.Equal(t, want, status, path)
		require.NotEmpty(t, body["error"], path)
	}
}

func TestEntityTypesAreTheBotAPIs(t *testing.T) {
	env := emutest.Start(t)
	user, err := env.Server.CreateUser("Jo", "")
	require.NoError(t, err)
	botSession(t, env, func(ctx context.Context, c *tg.Client) {
		_, err := c.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
			Peer: &tg.InputPeerUser{UserID: user.ID, AccessHash: user.AccessHash}, Message: "see terms now", RandomID: randomID.Add(1),
			Entities: []tg.MessageEntityClass{
				&tg.MessageEntityTextURL{Offset: 4, Length: 5, URL: "https://example.com"},
				&tg.MessageEntityStrike{Offset: 0, Length: 3},
				&tg.MessageEntityBold{Offset: 10, Length: 3},
			},
		})
		require.NoError(t, err)
	})
	msgs, err := env.Server.Messages(user.ID, 0)
	require.NoError(t, err)
	require.Len(t, msgs, 1)
	require.Equal(t, []tgemu.Entity{
		{Type: "text_link", Offset: 4, Length: 5, URL: "https://example.com"},
		{Type: "strikethrough", Offset: 0, Length: 3},
		{Type: "bold", Offset: 10, Length: 3},
	}, msgs[0].Entities)
}

// TestFeedAnnouncesChanges checks the events a page needs to follow a
// chat: the bot's edits, pins, chat actions and deletions, and the user's
// edits, each naming the bot's message.
func TestFeedAnnouncesChanges(t *testing.T) {
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) { c.HTTPAddr = "127.0.0.1:0" }))
	base := "http://" + env.Server.HTTPAddr()
	api := apiClient{t: t, base: base}
	user, err := env.Server.CreateUser("Kim", "")
	require.NoError(t, err)
	events := openEvents(t, base)
	botSession(t, env, func(ctx context.Context, c *tg.Client) {
		peer := &tg.InputPeerUser{UserID: user.ID, AccessHash: user.AccessHash}
		res, err := c.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{Peer: peer, Message: "draft", RandomID: randomID.Add(1)})
		require.NoError(t, err)
		e := events.next("message")
		require.Equal(t, tgemu.Event{Type: "message", BotID: e.BotID, UserID: user.ID, FromID: e.BotID}, e)
		botID := e.BotID
		var msgID int
		for _, u := range res.(*tg.Updates).Updates {
			if u, ok := u.(*tg.UpdateMessageID); ok {
				msgID = u.ID
			}
		}
		require.NotZero(t, msgID)

		_, err = c.MessagesEditMessage(ctx, &tg.MessagesEditMessageRequest{Peer: peer, ID: msgID, Message: "final"})
		require.NoError(t, err)
		require.Equal(t, tgemu.Event{Type: "edit", BotID: botID, UserID: user.ID, MsgID: msgID}, events.next("edit"))

		_, err = c.MessagesUpdatePinnedMessage(ctx, &tg.MessagesUpdatePinnedMessageRequest{Peer: peer, ID: msgID})
		require.NoError(t, err)
		require.Equal(t, tgemu.Event{Type: "pin", BotID: botID, UserID: user.ID, MsgID: msgID, Pinned: true}, events.next("pin"))
		_, err = c.MessagesUpdatePinnedMessage(ctx, &tg.MessagesUpdatePinnedMessageRequest{Peer: peer, ID: msgID, Unpin: true})
		require.NoError(t, err)
		require.Equal(t, tgemu.Event{Type: "pin", BotID: botID, UserID: user.ID, MsgID: msgID}, events.next("pin"))

		_, err = c.MessagesSetTyping(ctx, &tg.MessagesSetTypingRequest{Peer: peer, Action: &tg.SendMessageTypingAction{}})
		require.NoError(t, err)
		require.Equal(t, tgemu.Event{Type: "chat_action", BotID: botID, UserID: user.ID, Action: "typing"}, events.next("chat_action"))
		_, err = c.MessagesSetTyping(ctx, &tg.MessagesSetTypingRequest{Peer: peer, Action: &tg.SendMessageCancelAction{}})
		require.NoError(t, err)
		require.Equal(t, "cancel", events.next("chat_action").Action)

		// The user edits their message: the event names the bot's copy.
		userMsg, err := env.Server.UserSendMessage(user.ID, botID, "helo")
		require.NoError(t, err)
		require.Equal(t, user.ID, events.next("message").FromID)
		status, body := api.do("PATCH", fmt.Sprintf("/v1/users/%d/messages/%d", user.ID, userMsg), map[string]any{"text": "hello"})
		require.Equal(t, 200, status, body)
		require.Equal(t, tgemu.Event{Type: "edit", BotID: botID, UserID: user.ID, MsgID: userMsg}, events.next("edit"))

		_, err = c.MessagesDeleteMessages(ctx, &tg.MessagesDeleteMessagesRequest{ID: []int{msgID, userMsg, 999999}, Revoke: true})
		require.NoError(t, err)
		require.Equal(t, tgemu.Event{Type: "delete", BotID: botID, UserID: user.ID, MsgIDs: []int{msgID, userMsg}}, events.next("delete"))
	})
}
