package natsstate_test

import (
	"context"
	"encoding/json"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gotd/td/telegram/updates"
	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/natsx"
	"github.com/tgbotsvc/tgbot/internal/natsx/natstest"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/natsstate"
)

const bot = int64(777)

func connect(t *testing.T, url string) *natsx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := natsx.Connect(ctx, config.NATS{URL: url, Replicas: 1}, "test", zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(c.Close)
	return c
}

func open(t *testing.T, c *natsx.Conn, fenced func(int64)) *natsstate.Store {
	t.Helper()
	st, err := natsstate.Open(context.Background(), c, natsstate.Options{OnFenced: fenced, Logger: zaptest.NewLogger(t)})
	require.NoError(t, err)
	return st
}

func msg(chat int64, pts int, text string) event.Event {
	return event.Event{ID: event.MessageID(bot, 0, pts), Type: event.TypeMessage, BotID: bot,
		Chat: &event.Chat{ID: chat, Type: event.ChatPrivate}, Message: &event.Message{ID: pts, Text: text}}
}

func TestPublishStoresEachEventOnceUnderItsSubject(t *testing.T) {
	ctx := context.Background()
	c := connect(t, natstest.Start(t).ClientURL())
	st := open(t, c, nil)
	require.ErrorIs(t, st.Publish(ctx, msg(1, 1, "x")), natsstate.ErrNotActive, "a bot not held here")
	require.NoError(t, st.Load(ctx, bot))

	require.NoError(t, st.Publish(ctx, msg(10, 1, "a"), msg(-20, 2, "b")))
	// The same updates fetched again (getDifference after a crash).
	require.NoError(t, st.Publish(ctx, msg(10, 1, "a"), msg(-20, 2, "b"), msg(10, 3, "c")))

	info, err := st.Stream().Info(ctx, jetstream.WithSubjectFilter("tg.events.>"))
	require.NoError(t, err)
	require.EqualValues(t, 3, info.State.Msgs)
	require.Equal(t, map[string]uint64{"tg.events.777.10": 2, "tg.events.777.-20": 1}, info.State.Subjects)

	m, err := st.Stream().GetMsg(ctx, 1)
	require.NoError(t, err)
	require.Equal(t, event.MessageID(bot, 0, 1), m.Header.Get("Nats-Msg-Id"))
	require.Equal(t, "message", m.Header.Get(natsstate.HeaderType))
	var ev event.Event
	require.NoError(t, json.Unmarshal(m.Data, &ev))
	require.Equal(t, "a", ev.Message.Text)
}

func TestStateIsWrittenAndReadBack(t *testing.T) {
	ctx := context.Background()
	url := natstest.Start(t).ClientURL()
	st := open(t, connect(t, url), nil)
	require.NoError(t, st.Load(ctx, bot))
	_, ok, err := st.GetState(ctx, bot)
	require.NoError(t, err)
	require.False(t, ok)
	require.Error(t, st.SetPts(ctx, bot, 5), "Set* before SetState must fail (updates.StateStorage)")
	require.NoError(t, st.SetState(ctx, bot, updates.State{Pts: 10, Qts: 2, Date: 100, Seq: 1}))
	require.NoError(t, st.SetPts(ctx, bot, 11))
	require.NoError(t, st.SetChannelPts(ctx, bot, 55, 7))
	require.NoError(t, st.SetChannelAccessHash(ctx, bot, 55, 99))
	st.Flush(ctx)

	// Another replica taking the bot over reads what was written.
	other := open(t, connect(t, url), nil)
	require.NoError(t, other.Load(ctx, bot))
	got, ok, err := other.GetState(ctx, bot)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, updates.State{Pts: 11, Qts: 2, Date: 100, Seq: 1}, got)
	pts, ok, err := other.GetChannelPts(ctx, bot, 55)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, 7, pts)
	hash, ok, err := other.GetChannelAccessHash(ctx, bot, 55)
	require.NoError(t, err)
	require.True(t, ok)
	require.EqualValues(t, 99, hash)
	_, ok, err = other.GetChannelPts(ctx, bot, 56)
	require.NoError(t, err)
	require.False(t, ok, "a channel never seen has no pts")
	_, _, err = other.GetChannelAccessHash(ctx, bot+1, 55)
	require.ErrorIs(t, err, natsstate.ErrNotActive, "a bot not loaded here")
}

func TestReplicaThatLostTheBotCannotMoveItsState(t *testing.T) {
	ctx := context.Background()
	url := natstest.Start(t).ClientURL()
	var fenced atomic.Int64
	old := open(t, connect(t, url), func(b int64) { fenced.Store(b) })
	require.NoError(t, old.Load(ctx, bot))
	require.NoError(t, old.SetState(ctx, bot, updates.State{Pts: 10}))
	old.Flush(ctx)

	// The lease moved: the new holder loads, which bumps the revision.
	cur := open(t, connect(t, url), nil)
	require.NoError(t, cur.Load(ctx, bot))

	// The old holder (paused, then resumed) goes on as if it still held it.
	require.NoError(t, old.SetPts(ctx, bot, 20))
	old.Flush(ctx)
	require.Eventually(t, func() bool { return fenced.Load() == bot }, 5*time.Second, 10*time.Millisecond)
	require.False(t, old.Active(bot))
	require.ErrorIs(t, old.SetPts(ctx, bot, 21), natsstate.ErrFenced)
	require.ErrorIs(t, old.Publish(ctx, msg(1, 21, "late")), natsstate.ErrFenced)

	v, _, err := natsstate.Read(ctx, cur.KV(), bot)
	require.NoError(t, err)
	require.Equal(t, 10, v.Pts, "the fenced write must not land")

	// The holder writes on.
	require.NoError(t, cur.SetPts(ctx, bot, 12))
	cur.Flush(ctx)
	v, _, err = natsstate.Read(ctx, cur.KV(), bot)
	require.NoError(t, err)
	require.Equal(t, 12, v.Pts)
	require.NoError(t, cur.Healthy())
}

func TestFrozenStateDoesNotMovePts(t *testing.T) {
	ctx := context.Background()
	st := open(t, connect(t, natstest.Start(t).ClientURL()), nil)
	require.NoError(t, st.Load(ctx, bot))
	require.NoError(t, st.SetState(ctx, bot, updates.State{Pts: 10}))
	st.Fail(context.Canceled)
	require.Error(t, st.SetPts(ctx, bot, 11))
	require.NoError(t, st.SetDate(ctx, bot, 5), "date and seq do not cover events")
	require.Error(t, st.Healthy())
	got, _, err := st.GetState(ctx, bot)
	require.NoError(t, err)
	require.Equal(t, 10, got.Pts)
}

// An event that cannot be published freezes its bot: nothing after it is
// published, pts stays, and the bot is given up, so that its next holder
// fetches the update again before any later one of the chat.
func TestFailedPublishFreezesAndGivesTheBotUp(t *testing.T) {
	ctx := context.Background()
	given := make(chan int64, 1)
	st := open(t, connect(t, natstest.Start(t).ClientURL()), func(b int64) { given <- b })
	require.NoError(t, st.Load(ctx, bot))
	require.NoError(t, st.SetState(ctx, bot, updates.State{Pts: 10}))
	require.NoError(t, st.Publish(ctx, msg(1, 11, "a")))

	canceled, cancel := context.WithCancel(ctx)
	cancel()
	require.Error(t, st.Publish(canceled, msg(1, 12, "b")))
	select {
	case b := <-given:
		require.Equal(t, bot, b)
	case <-time.After(5 * time.Second):
		t.Fatal("the bot was not given up")
	}
	require.ErrorIs(t, st.Publish(ctx, msg(1, 13, "c")), natsstate.ErrFrozen, "a later event of the chat is refused")
	require.Error(t, st.SetPts(ctx, bot, 13), "pts does not pass the failed event")
	got, _, err := st.GetState(ctx, bot)
	require.NoError(t, err)
	require.Equal(t, 10, got.Pts)
	info, err := st.Stream().Info(ctx)
	require.NoError(t, err)
	require.EqualValues(t, 1, info.State.Msgs, "only the event before the failure is stored")
}
