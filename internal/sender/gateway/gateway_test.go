package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/sender/ratelimit"
	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

func TestClassify(t *testing.T) {
	cases := []struct {
		err   error
		kind  send.Kind
		code  string
		retry time.Duration
	}{
		{tgerr.New(420, "FLOOD_WAIT_7"), send.KindFlood, "flood_wait", 7 * time.Second},
		{fmt.Errorf("wrapped: %w", tgerr.New(420, "FLOOD_WAIT_3")), send.KindFlood, "flood_wait", 3 * time.Second},
		{tgerr.New(400, "PEER_ID_INVALID"), send.KindRefused, "chat_not_found", 0},
		{tgerr.New(400, "USERNAME_NOT_OCCUPIED"), send.KindRefused, "chat_not_found", 0},
		{tgerr.New(403, "USER_IS_BLOCKED"), send.KindRefused, "blocked_by_user", 0},
		{tgerr.New(403, "CHAT_WRITE_FORBIDDEN"), send.KindRefused, "forbidden", 0},
		{tgerr.New(400, "MEDIA_CAPTION_TOO_LONG"), send.KindRefused, "caption_too_long", 0},
		{tgerr.New(400, "SOMETHING_NEW"), send.KindRefused, "telegram_refused", 0},
		{tgerr.New(500, "INTERNAL"), send.KindUnavailable, "telegram_unavailable", 0},
		{tgerr.New(401, "AUTH_KEY_UNREGISTERED"), send.KindUnavailable, "telegram_unavailable", 0},
		{context.DeadlineExceeded, send.KindUnavailable, "telegram_unavailable", 0},
		{errors.New("connection reset"), send.KindUnavailable, "telegram_unavailable", 0},
		{&http.MaxBytesError{Limit: 1}, send.KindTooLarge, "too_large", 0},
		{fmt.Errorf("%w: x", ratelimit.ErrDeadline), send.KindFlood, "rate_limited", time.Second},
		{send.Invalid("text", "bad"), send.KindInvalid, "invalid_argument", 0},
	}
	for _, tc := range cases {
		e := classify(tc.err)
		require.Equal(t, tc.kind, e.Kind, tc.err.Error())
		require.Equal(t, tc.code, e.Code, tc.err.Error())
		require.Equal(t, tc.retry, e.RetryAfter, tc.err.Error())
		if rpcErr, ok := tgerr.As(tc.err); ok {
			require.Equal(t, rpcErr.Message, e.TelegramError, "Telegram's error text reaches the client")
			if _, known := refusals[rpcErr.Type]; known {
				require.NotContains(t, e.Message, rpcErr.Type, "the message explains the error")
			}
		}
	}
	require.Nil(t, classify(nil))
}

func TestSentMessage(t *testing.T) {
	id, date, _ := sentMessage(&tg.UpdateShortSentMessage{ID: 5, Date: 100}, 1)
	require.Equal(t, 5, id)
	require.Equal(t, 100, date)

	media := &tg.MessageMediaDocument{Document: &tg.Document{ID: 9, AccessHash: 1, FileReference: []byte{1}}}
	u := &tg.Updates{Date: 200, Updates: []tg.UpdateClass{
		&tg.UpdateMessageID{ID: 3, RandomID: 77},
		&tg.UpdateNewMessage{Message: &tg.Message{ID: 2, Date: 150}},
		&tg.UpdateNewMessage{Message: &tg.Message{ID: 3, Date: 199, Media: media}},
	}}
	id, date, m := sentMessage(u, 77)
	require.Equal(t, 3, id)
	require.Equal(t, 199, date)
	d, ok := documentOf(m)
	require.True(t, ok)
	require.Equal(t, int64(9), d.ID)

	id, _, _ = sentMessage(&tg.UpdatesTooLong{}, 1)
	require.Zero(t, id)
}

func TestFormat(t *testing.T) {
	format := (&Gateway{}).format
	text, ents, err := format("<b>bold</b> <a href=\"https://x.y\">link</a>", send.ParseHTML, "text", true)
	require.NoError(t, err)
	require.Equal(t, "bold link", text)
	require.Len(t, ents, 2)

	text, ents, err = format("**b** _i_ `c`", send.ParseCommonMark, "text", true)
	require.NoError(t, err)
	require.Equal(t, "b i c", text)
	require.Len(t, ents, 3)

	text, ents, err = format("*b* _i_ `c`", "markdownv2", "text", true)
	require.NoError(t, err)
	require.Equal(t, "b i c", text)
	require.Len(t, ents, 3)

	_, _, err = format("*b* _i_ `c`.", send.ParseMarkdownV2, "caption", true)
	require.Equal(t, "invalid_markup", send.As(err).Code)
	require.Equal(t, "caption", send.As(err).Field)

	text, ents, err = format("<b>raw</b>", send.ParsePlain, "text", true)
	require.NoError(t, err)
	require.Equal(t, "<b>raw</b>", text)
	require.Empty(t, ents)

	_, _, err = format("<b></b>", send.ParseHTML, "caption", true)
	require.Equal(t, "caption", send.As(err).Field)
	_, _, err = format("", send.ParseHTML, "caption", false)
	require.NoError(t, err, "an empty caption is fine")
}

func TestMarkup(t *testing.T) {
	require.Nil(t, markup(nil))
	m := markup([][]send.Button{{{Text: "a", CallbackData: "x"}, {Text: "b", URL: "https://x.y"}}}).(*tg.ReplyInlineMarkup)
	require.Len(t, m.Rows, 1)
	require.Equal(t, []byte("x"), m.Rows[0].Buttons[0].Type.(*tg.InlineButtonTypeCallback).Data)
	require.Equal(t, "https://x.y", m.Rows[0].Buttons[1].Type.(*tg.InlineButtonTypeURL).URL)
}

func TestLearnerStoresAccessHashes(t *testing.T) {
	st, err := store.Open(filepath.Join(t.TempDir(), "s.db"))
	require.NoError(t, err)
	defer st.Close()
	l := newLearner(st, zaptest.NewLogger(t))
	l.observe(&tg.Updates{
		Users: []tg.UserClass{&tg.User{ID: 10, AccessHash: 111, Username: "Some_User"}, &tg.User{ID: 11}},
		Chats: []tg.ChatClass{&tg.Channel{ID: 20, AccessHash: 222}, &tg.Chat{ID: 30}},
	})
	l.observe(&tg.Updates{Users: []tg.UserClass{&tg.User{ID: 10, AccessHash: 111}}}) // known: not queued again
	require.Len(t, l.pending, 2)
	l.observe(&tg.Updates{ // a known user next to a new channel: only the channel is queued
		Users: []tg.UserClass{&tg.User{ID: 10, AccessHash: 111}},
		Chats: []tg.ChatClass{&tg.Channel{ID: 21, AccessHash: 223}},
	})
	require.Len(t, l.pending, 3)
	require.Equal(t, int64(21), l.pending[2].ID)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	l.run(ctx, time.Hour) // flushes on the way out
	p, err := st.Peer(send.PeerUser, 10)
	require.NoError(t, err)
	require.Equal(t, int64(111), p.AccessHash)
	byName, err := st.PeerByUsername("some_user")
	require.NoError(t, err)
	require.Equal(t, int64(10), byName.ID)
	c, err := st.Peer(send.PeerChannel, 20)
	require.NoError(t, err)
	require.Equal(t, int64(222), c.AccessHash)
	_, err = st.Peer(send.PeerUser, 11)
	require.ErrorIs(t, err, store.ErrNotFound, "no access hash, nothing to learn")
}

// TestConnectionLost: the errors a call gets when the connection drops
// under it are resent after the reconnect; Telegram's answers and the
// caller's own deadline are not.
func TestConnectionLost(t *testing.T) {
	live := context.Background()
	expired, cancel := context.WithCancel(context.Background())
	cancel()
	broken := fmt.Errorf("rpcDoRequest: retryUntilAck: send: %w", errors.New("write: broken pipe"))
	// gotd cancels a request that was acknowledged on a connection that
	// then closed: a cancellation the caller did not ask for.
	dropped := fmt.Errorf("engine forcibly closed: %w", context.Canceled)
	cases := []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"not connected", live, send.Unavailable("x", errNotConnected), true},
		{"write on a dead connection", live, classify(broken), true},
		{"acknowledged, then the connection closed", live, classify(dropped), true},
		{"caller's deadline", expired, classify(dropped), false},
		{"Telegram's 5xx", live, classify(tgerr.New(500, "INTERNAL")), false},
		{"Telegram refused", live, classify(tgerr.New(400, "PEER_ID_INVALID")), false},
		{"success", live, nil, false},
	}
	for _, c := range cases {
		require.Equal(t, c.want, connectionLost(c.ctx, c.err), c.name)
	}
}

// TestWhileConnectedWaitsForTheNextConnection: a call that failed on the
// connection while the client still looked ready runs again only once the
// client has become ready anew, not at once on the dead connection.
func TestWhileConnectedWaitsForTheNextConnection(t *testing.T) {
	g := New(Config{}, nil, nil, zaptest.NewLogger(t))
	g.readiness.set(true)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var calls int
	reconnected := make(chan struct{})
	err := g.whileConnected(ctx, func() error {
		calls++
		if calls == 1 {
			go func() {
				time.Sleep(50 * time.Millisecond)
				g.readiness.set(false)
				close(reconnected)
				g.readiness.set(true)
			}()
			return classify(errors.New("write: broken pipe"))
		}
		select {
		case <-reconnected:
		default:
			t.Error("run again before the client reconnected")
		}
		return nil
	})
	require.NoError(t, err)
	require.Equal(t, 2, calls)
}
