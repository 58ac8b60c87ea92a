package receiver_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gotd/td/constant"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// control calls the emulator's control API over HTTP and decodes the answer
// into out (when not nil), requiring status.
func control(t *testing.T, base, method, path, body string, status int, out any) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	raw := readAll(t, resp)
	require.Equal(t, status, resp.StatusCode, "%s %s: %s", method, path, raw)
	if out != nil {
		require.NoError(t, json.Unmarshal([]byte(raw), out))
	}
}

// botAPIChannelID is the Bot API form -100<id> of a channel ID.
func botAPIChannelID(id int64) int64 {
	var p constant.TDLibPeerID
	p.Channel(id)
	return int64(p)
}

// eventsOf returns the events of type typ in chat, in arrival order.
func (d *downstream) eventsOf(typ event.Type, chat int64) []event.Event {
	var out []event.Event
	for _, ev := range d.got() {
		if ev.Type == typ && ev.ChatID() == chat {
			out = append(out, ev)
		}
	}
	return out
}

func (d *downstream) waitEvents(t *testing.T, typ event.Type, chat int64, n int) []event.Event {
	t.Helper()
	require.Eventually(t, func() bool { return len(d.eventsOf(typ, chat)) >= n }, 20*time.Second, 20*time.Millisecond,
		"chat %d: %d %s events of %d", chat, len(d.eventsOf(typ, chat)), typ, n)
	return d.eventsOf(typ, chat)
}

func eventTexts(evs []event.Event) []string {
	out := make([]string, 0, len(evs))
	for _, ev := range evs {
		out = append(out, ev.Message.Text)
	}
	return out
}

// testChannels: a user's message in a supergroup is a message event with
// chat type supergroup; an admin's post in a broadcast channel is a
// channel_post without from. Posts made while the receiver is stopped are
// fetched with updates.getChannelDifference after the restart (the channel
// pts and access hash are persisted in the outbox), none lost or doubled.
func (s *suite) testChannels(t *testing.T) {
	env := s.env
	ctl := httptest.NewServer(env.Server.Handler())
	defer ctl.Close()
	down := newDownstream(t)
	cfg := testConfig(env, s.dataDir(t), down.srv.URL)
	r := startReceiver(t, cfg)
	u := newUser(t, env, "Poster")

	var super, news struct {
		ID int64 `json:"id"`
	}
	control(t, ctl.URL, http.MethodPost, "/v1/channels",
		fmt.Sprintf(`{"title":"Super","megagroup":true,"member_ids":[%d]}`, u.ID), http.StatusCreated, &super)
	control(t, ctl.URL, http.MethodPost, "/v1/channels",
		fmt.Sprintf(`{"title":"News","megagroup":false,"member_ids":[%d]}`, u.ID), http.StatusCreated, &news)
	superChat, newsChat := botAPIChannelID(super.ID), botAPIChannelID(news.ID)
	post := func(ch int64, text string) {
		t.Helper()
		control(t, ctl.URL, http.MethodPost, fmt.Sprintf("/v1/channels/%d/messages", ch),
			fmt.Sprintf(`{"user_id":%d,"text":%q}`, u.ID, text), http.StatusCreated, nil)
	}

	post(super.ID, "hello super")
	ev := down.waitEvents(t, event.TypeMessage, superChat, 1)[0]
	require.Equal(t, &event.Chat{ID: superChat, Type: event.ChatSupergroup, Title: "Super"}, ev.Chat)
	require.Equal(t, u.ID, ev.From.ID)
	require.Equal(t, event.MessageID(env.BotID, super.ID, ev.Message.ID), ev.ID)

	post(news.ID, "breaking")
	ev = down.waitEvents(t, event.TypeChannelPost, newsChat, 1)[0]
	require.Equal(t, &event.Chat{ID: newsChat, Type: event.ChatChannel, Title: "News"}, ev.Chat)
	require.Nil(t, ev.From)
	require.Equal(t, "breaking", ev.Message.Text)

	r.stop(t)
	for i := range 3 {
		post(super.ID, fmt.Sprintf("while down %d", i))
	}
	post(news.ID, "while down")
	startReceiver(t, cfg)
	post(super.ID, "after")
	wantSuper := []string{"hello super", "while down 0", "while down 1", "while down 2", "after"}
	require.Equal(t, wantSuper, eventTexts(down.waitEvents(t, event.TypeMessage, superChat, len(wantSuper))))
	require.Equal(t, []string{"breaking", "while down"}, eventTexts(down.waitEvents(t, event.TypeChannelPost, newsChat, 2)))
	time.Sleep(300 * time.Millisecond) // a duplicate would arrive by now
	require.Len(t, down.eventsOf(event.TypeMessage, superChat), len(wantSuper))
	require.Len(t, down.eventsOf(event.TypeChannelPost, newsChat), 2)
	down.validateBodies(t)
}

// testMyChatMember: a user blocking, then unblocking the bot (emulator
// control API) reaches the downstream service as two my_chat_member events:
// kicked, then member, the bot as the member, the user as from.
func (s *suite) testMyChatMember(t *testing.T) {
	env := s.env
	ctl := httptest.NewServer(env.Server.Handler())
	defer ctl.Close()
	down := newDownstream(t)
	startReceiver(t, testConfig(env, s.dataDir(t), down.srv.URL))
	u := newUser(t, env, "Blocker")
	path := fmt.Sprintf("/v1/users/%d/", u.ID)
	control(t, ctl.URL, http.MethodPost, path+"block", `{}`, http.StatusOK, nil)
	control(t, ctl.URL, http.MethodPost, path+"unblock", `{}`, http.StatusOK, nil)
	evs := down.waitEvents(t, event.TypeMyChatMember, u.ID, 2)
	for i, want := range [][2]string{{event.StatusMember, event.StatusKicked}, {event.StatusKicked, event.StatusMember}} {
		m := evs[i].MyChatMember
		require.NotNil(t, m)
		require.Equal(t, want, [2]string{m.OldChatMember.Status, m.NewChatMember.Status})
		require.Equal(t, env.BotID, m.NewChatMember.User.ID)
		require.True(t, m.NewChatMember.User.IsBot)
		require.Equal(t, u.ID, m.From.ID)
		require.Equal(t, "Blocker", m.From.FirstName)
		require.Equal(t, &event.Chat{ID: u.ID, Type: event.ChatPrivate}, m.Chat)
		require.NotZero(t, m.Date)
		require.Equal(t, m.Date, evs[i].Date)
	}
	require.NotEqual(t, evs[0].ID, evs[1].ID)
	down.validateBodies(t)
}
