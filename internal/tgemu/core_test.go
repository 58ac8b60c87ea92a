package tgemu_test

import (
	"context"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/gotd/log/logzap"
	"github.com/gotd/td/telegram"
	"github.com/gotd/td/telegram/updates"
	updhook "github.com/gotd/td/telegram/updates/hook"
	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"
	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/tgclient"
	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// receiver is a bot client wired as REFERENCE.md says: updates.Manager
// behind the hook middleware, so short updates and gaps are handled.
type receiver struct {
	client *telegram.Client
	gaps   *updates.Manager
	msgs   chan *tg.Message
	cbs    chan *tg.UpdateBotCallbackQuery
	stops  chan *tg.UpdateBotStopped
	edits  chan *tg.UpdateEditMessage
}

func newReceiver(t *testing.T, env *emutest.Env, sessionPath string, storage updates.StateStorage) *receiver {
	t.Helper()
	d := tg.NewUpdateDispatcher()
	r := &receiver{msgs: make(chan *tg.Message, 100), cbs: make(chan *tg.UpdateBotCallbackQuery, 100),
		stops: make(chan *tg.UpdateBotStopped, 100), edits: make(chan *tg.UpdateEditMessage, 100)}
	d.OnBotStopped(func(ctx context.Context, e tg.Entities, u *tg.UpdateBotStopped) error {
		r.stops <- u
		return nil
	})
	d.OnEditMessage(func(ctx context.Context, e tg.Entities, u *tg.UpdateEditMessage) error {
		r.edits <- u
		return nil
	})
	d.OnNewMessage(func(ctx context.Context, e tg.Entities, u *tg.UpdateNewMessage) error {
		if m, ok := u.Message.(*tg.Message); ok && !m.Out {
			r.msgs <- m
		}
		return nil
	})
	d.OnBotCallbackQuery(func(ctx context.Context, e tg.Entities, u *tg.UpdateBotCallbackQuery) error {
		r.cbs <- u
		return nil
	})
	cfg := updates.Config{Handler: d, Logger: logzap.New(zaptest.NewLogger(t).Named("updates"))}
	if storage != nil {
		cfg.Storage = storage
	}
	r.gaps = updates.New(cfg)
	r.client = env.NewClient(t, tgclient.Options{
		SessionPath:   sessionPath,
		UpdateHandler: r.gaps,
		Middlewares:   []telegram.Middleware{updhook.UpdateHook(r.gaps.Handle)},
	})
	return r
}

// run logs in, starts the updates manager and calls fn.
func (r *receiver) run(t *testing.T, env *emutest.Env, ctx context.Context, fn func(ctx context.Context) error) {
	t.Helper()
	env.RunBot(t, ctx, r.client, func(ctx context.Context) error {
		ready := make(chan struct{})
		errc := make(chan error, 1)
		runCtx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			errc <- r.gaps.Run(runCtx, r.client.API(), env.BotID, updates.AuthOptions{
				IsBot:   true,
				OnStart: func(context.Context) { close(ready) },
			})
		}()
		select {
		case <-ready:
		case err := <-errc:
			return err
		}
		err := fn(ctx)
		cancel()
		<-errc
		return err
	})
}

func waitMsg(t *testing.T, ch <-chan *tg.Message) *tg.Message {
	t.Helper()
	select {
	case m := <-ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no message pushed within 10s")
		return nil
	}
}

func TestBotLoginReceiveAndReply(t *testing.T) {
	env := emutest.Start(t)
	user, err := env.Server.CreateUser("Alice", "alice_user")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	r := newReceiver(t, env, "", nil)
	r.run(t, env, ctx, func(ctx context.Context) error {
		self, err := r.client.Self(ctx)
		require.NoError(t, err)
		require.Equal(t, env.BotID, self.ID)
		require.True(t, self.Bot)

		id, err := env.Server.UserSendMessage(user.ID, 0, "/start")
		require.NoError(t, err)
		m := waitMsg(t, r.msgs)
		require.Equal(t, id, m.ID)
		require.Equal(t, "/start", m.Message)
		from, ok := m.FromID.(*tg.PeerUser)
		require.True(t, ok)
		require.Equal(t, user.ID, from.UserID)

		// Access hash 0 works for a user who wrote to the bot.
		res, err := r.client.API().MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
			Peer:     &tg.InputPeerUser{UserID: user.ID},
			Message:  "hello Alice",
			RandomID: 42,
			Entities: []tg.MessageEntityClass{&tg.MessageEntityBold{Offset: 0, Length: 5}},
		})
		require.NoError(t, err)
		upd, ok := res.(*tg.Updates)
		require.True(t, ok, "%T", res)
		var sentID int
		for _, u := range upd.Updates {
			if u, ok := u.(*tg.UpdateMessageID); ok {
				require.Equal(t, int64(42), u.RandomID)
				sentID = u.ID
			}
		}
		require.NotZero(t, sentID)

		_, err = r.client.API().MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
			Peer: &tg.InputPeerUser{UserID: user.ID}, Message: "again", RandomID: 42,
		})
		require.True(t, tgerr.Is(err, "RANDOM_ID_DUPLICATE"), "%v", err)
		_, err = r.client.API().MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
			Peer: &tg.InputPeerUser{UserID: user.ID}, Message: "", RandomID: 43,
		})
		require.True(t, tgerr.Is(err, "MESSAGE_EMPTY"), "%v", err)

		msgs, err := env.Server.Messages(user.ID, env.BotID)
		require.NoError(t, err)
		require.Len(t, msgs, 2)
		require.False(t, msgs[0].Out)
		require.True(t, msgs[1].Out)
		require.Equal(t, sentID, msgs[1].ID)
		require.Equal(t, []tgemu.Entity{{Type: "bold", Offset: 0, Length: 5}}, msgs[1].Entities)
		return nil
	})
}

func TestAuthKeyUnregisteredBeforeLogin(t *testing.T) {
	env := emutest.Start(t)
	client := env.NewClient(t, tgclient.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	require.NoError(t, client.Run(ctx, func(ctx context.Context) error {
		// help.getConfig works before login and points back at the server.
		cfg, err := client.API().HelpGetConfig(ctx)
		require.NoError(t, err)
		require.Len(t, cfg.DCOptions, 1)
		dc := cfg.DCOptions[0]
		require.Equal(t, env.Server.MTProtoAddr(), net.JoinHostPort(dc.IPAddress, strconv.Itoa(dc.Port)))
		require.Equal(t, 4096, cfg.MessageLengthMax)

		st, err := client.Auth().Status(ctx)
		require.NoError(t, err)
		require.False(t, st.Authorized)
		_, err = client.API().UpdatesGetState(ctx)
		require.True(t, tgerr.Is(err, "AUTH_KEY_UNREGISTERED"), "%v", err)
		var rpcErr *tgerr.Error
		require.ErrorAs(t, err, &rpcErr)
		require.Equal(t, 401, rpcErr.Code)

		_, err = client.Auth().Bot(ctx, "not-a-token")
		require.True(t, tgerr.Is(err, "ACCESS_TOKEN_INVALID"), "%v", err)

		_, err = client.Auth().Bot(ctx, env.Telegram.BotToken)
		require.NoError(t, err)
		st, err = client.Auth().Status(ctx)
		require.NoError(t, err)
		require.True(t, st.Authorized)
		require.Equal(t, env.BotID, st.User.ID)
		return nil
	}))
}

// A session that calls with invokeWithoutUpdates (gotd's NoUpdates, what
// the sender uses) gets no pushed updates: they all go to the receiver.
func TestNoUpdatesSessionGetsNoPushes(t *testing.T) {
	env := emutest.Start(t)
	user, err := env.Server.CreateUser("Lee", "")
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	pushed := make(chan tg.UpdatesClass, 10)
	sender := env.NewClient(t, tgclient.Options{
		NoUpdates: true,
		UpdateHandler: telegram.UpdateHandlerFunc(func(_ context.Context, u tg.UpdatesClass) error {
			pushed <- u
			return nil
		}),
	})
	r := newReceiver(t, env, "", nil)
	r.run(t, env, ctx, func(ctx context.Context) error {
		env.RunBot(t, ctx, sender, func(ctx context.Context) error {
			_, err := env.Server.UserSendMessage(user.ID, 0, "to the receiver only")
			require.NoError(t, err)
			require.Equal(t, "to the receiver only", waitMsg(t, r.msgs).Message)
			// The sender's own sends reach the receiver too (as Telegram
			// pushes outgoing messages to the account's other sessions).
			require.NoError(t, send(ctx, sender.API(), &tg.InputPeerUser{UserID: user.ID}, "reply"))
			return nil
		})
		return nil
	})
	select {
	case u := <-pushed:
		t.Fatalf("a NoUpdates session got %T", u)
	default:
	}
}
