package natsdelivery_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/natsx"
	"github.com/tgbotsvc/tgbot/internal/natsx/natstest"
	"github.com/tgbotsvc/tgbot/internal/receiver/delivery"
	"github.com/tgbotsvc/tgbot/internal/receiver/driver"
	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/metrics"
	"github.com/tgbotsvc/tgbot/internal/receiver/natsdelivery"
	"github.com/tgbotsvc/tgbot/internal/receiver/natsstate"
)

const bot = int64(4242)

// recorder is a downstream that fails the first attempt at every event
// whose message ID is a multiple of 3, and refuses for good text "poison".
type recorder struct {
	mu       sync.Mutex
	got      map[int64][]int // chat -> message IDs delivered, in order
	attempts map[string]int
}

func (r *recorder) Deliver(_ context.Context, ev event.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts[ev.ID]++
	if ev.Message.Text == "poison" {
		return driver.Permanent(errors.New("refused"))
	}
	if ev.Message.ID%3 == 0 && r.attempts[ev.ID] == 1 {
		return errors.New("try again")
	}
	r.got[ev.ChatID()] = append(r.got[ev.ChatID()], ev.Message.ID)
	return nil
}

func (r *recorder) delivered() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, ids := range r.got {
		n += len(ids)
	}
	return n
}

func TestDeliversFromTheStreamInOrderPerChat(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	url := natstest.Start(t).ClientURL()
	conns := make([]*natsx.Conn, 2)
	for i := range conns {
		c, err := natsx.Connect(ctx, config.NATS{URL: url, Replicas: 1}, "test", zaptest.NewLogger(t))
		require.NoError(t, err)
		t.Cleanup(c.NC.Close)
		conns[i] = c
	}
	st, err := natsstate.Open(ctx, conns[0], natsstate.Options{Also: natsdelivery.Target})
	require.NoError(t, err)
	require.NoError(t, st.Load(ctx, bot))

	rec := &recorder{got: map[int64][]int{}, attempts: map[string]int{}}
	cfg := natsdelivery.Config{Config: delivery.Config{InitialBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond}}
	// Two replicas share the partition consumers.
	var ds []*natsdelivery.Delivery
	for _, c := range conns {
		d, err := natsdelivery.Open(ctx, c, cfg, rec, metrics.New(func() float64 { return 0 }), zaptest.NewLogger(t))
		require.NoError(t, err)
		ds = append(ds, d)
	}

	const chats, per = 10, 30
	for i := 1; i <= per; i++ {
		for c := int64(1); c <= chats; c++ {
			id := int(c)*1000 + i
			require.NoError(t, st.Publish(ctx, event.Event{ID: event.MessageID(bot, 0, id), Type: event.TypeMessage, BotID: bot,
				Chat: &event.Chat{ID: c, Type: event.ChatPrivate}, Message: &event.Message{ID: i, Text: fmt.Sprint(i)}}))
		}
	}
	// The partition a chat lands on is the one Partition computes (replays
	// rely on it).
	for c := int64(1); c <= chats; c++ {
		subj := fmt.Sprintf("tg.delivery.%d.%d.%d", natsdelivery.Partition(bot, c), bot, c)
		_, err := ds[0].Stream().GetLastMsgForSubject(ctx, subj)
		require.NoError(t, err, "chat %d: no %s once Publish returned", c, subj)
	}
	require.NoError(t, st.Publish(ctx, event.Event{ID: "poison-1", Type: event.TypeMessage, BotID: bot,
		Chat: &event.Chat{ID: 99, Type: event.ChatPrivate}, Message: &event.Message{ID: 1, Text: "poison"}}))

	for _, d := range ds {
		go func() { _ = d.Run(ctx) }()
	}
	require.Eventually(t, func() bool { return rec.delivered() == chats*per }, 30*time.Second, 20*time.Millisecond)
	want := make([]int, per)
	for i := range want {
		want[i] = i + 1
	}
	rec.mu.Lock()
	for c := int64(1); c <= chats; c++ {
		require.Equal(t, want, rec.got[c], "chat %d out of order", c)
	}
	rec.mu.Unlock()

	require.Eventually(t, func() bool {
		dl, err := ds[1].DeadLetters(0)
		return err == nil && len(dl) == 1
	}, 10*time.Second, 20*time.Millisecond)
	dl, err := ds[1].DeadLetters(0)
	require.NoError(t, err)
	require.Equal(t, "poison-1", dl[0].Event.ID)
	require.Equal(t, "refused", dl[0].LastError)

	_, err = ds[0].Replay("nope")
	require.Error(t, err)
	replayed, err := ds[0].Replay()
	require.NoError(t, err)
	require.Len(t, replayed, 1)
	require.Eventually(t, func() bool {
		rec.mu.Lock()
		defer rec.mu.Unlock()
		return rec.attempts["poison-1"] == 2
	}, 10*time.Second, 20*time.Millisecond, "the replayed dead letter is attempted again")
	lag, err := ds[0].Lag(ctx, bot)
	require.NoError(t, err)
	require.LessOrEqual(t, lag, uint64(1))
}

// A TG_DELIVERY made by an older build sourced TG_EVENTS: Open drops the
// source, so events are not copied twice.
func TestOpenDropsTheOldSource(t *testing.T) {
	ctx := context.Background()
	url := natstest.Start(t).ClientURL()
	c, err := natsx.Connect(ctx, config.NATS{URL: url, Replicas: 1}, "test", zaptest.NewLogger(t))
	require.NoError(t, err)
	t.Cleanup(c.NC.Close)
	_, err = natsstate.Open(ctx, c, natsstate.Options{})
	require.NoError(t, err)
	_, err = c.Stream(ctx, jetstream.StreamConfig{
		Name: natsdelivery.Stream, Subjects: []string{natsdelivery.SubjectPrefix + ".>"}, Retention: jetstream.WorkQueuePolicy,
		Sources: []*jetstream.StreamSource{{Name: natsstate.Stream, SubjectTransforms: []jetstream.SubjectTransformConfig{{
			Source: natsstate.SubjectPrefix + ".*.*", Destination: natsdelivery.SubjectPrefix + ".{{partition(16,1,2)}}.{{wildcard(1)}}.{{wildcard(2)}}",
		}}}},
	})
	require.NoError(t, err)
	d, err := natsdelivery.Open(ctx, c, natsdelivery.Config{}, &recorder{}, metrics.New(func() float64 { return 0 }), zaptest.NewLogger(t))
	require.NoError(t, err)
	info, err := d.Stream().Info(ctx)
	require.NoError(t, err)
	require.Empty(t, info.Config.Sources)
}
