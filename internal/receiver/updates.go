package receiver

import (
	"context"
	"fmt"

	"github.com/gotd/td/tg"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
	"github.com/tgbotsvc/tgbot/internal/receiver/handler"
	"github.com/tgbotsvc/tgbot/internal/receiver/outbox"
)

// handleUpdates is the update manager's handler. It queues the events of
// forwarded kinds for the next outbox commit, which also carries the update
// state the manager sets after this returns (see internal/receiver/outbox),
// hands the new ones to delivery at once, then gives the updates to the
// handlers. With RECEIVER_SYNC_COMMIT it returns (and delivery starts) only
// once the events are committed. If events cannot be queued, the update
// state is frozen so that it never passes them.
func (b *bot) handleUpdates(ctx context.Context, u tg.UpdatesClass) error {
	var (
		list  []tg.UpdateClass
		users []tg.UserClass
		chats []tg.ChatClass
	)
	switch u := u.(type) {
	case *tg.Updates:
		list, users, chats = u.Updates, u.Users, u.Chats
	case *tg.UpdatesCombined:
		list, users, chats = u.Updates, u.Users, u.Chats
	case *tg.UpdateShort:
		list = []tg.UpdateClass{u.Update}
	default:
		return nil
	}
	s := b.s
	ents := event.NewEntities(users, chats)
	botID := b.id.Load()
	var botUsername string
	if u := b.username.Load(); u != nil {
		botUsername = *u
	}
	var evs []event.Event
	hs := make([]*handler.Update, 0, len(list))
	for _, upd := range list {
		if _, ok := upd.(*tg.UpdateConfig); ok {
			b.ready.Store(true)
		}
		s.m.Updates.WithLabelValues(upd.TypeName()).Inc()
		ev, ok := event.FromUpdate(botID, upd, ents)
		if !ok {
			continue
		}
		ev.BotUsername = botUsername
		if s.forward[ev.Type] {
			evs = append(evs, ev)
		}
		hu := &handler.Update{Event: ev}
		switch upd := upd.(type) {
		case *tg.UpdateBotCallbackQuery:
			hu.Callback = upd
			hu.Peer = ents.InputPeer(upd.Peer)
		default:
			if m, ok := messageOf(upd); ok {
				hu.Message = m
				hu.Peer = ents.InputPeer(m.PeerID)
			}
		}
		hs = append(hs, hu)
	}
	if len(evs) > 0 {
		var fresh []outbox.Record
		var err error
		if s.cfg.SyncCommit || s.nats != nil {
			fresh, err = s.store.Put(ctx, evs...)
		} else {
			fresh, err = s.store.Add(evs...)
		}
		if err != nil {
			s.store.Fail(err)
			return fmt.Errorf("queue events: %w", err)
		}
		s.disp.Push(fresh)
	}
	for _, hu := range hs {
		b.runner.Dispatch(hu)
	}
	return nil
}

func messageOf(u tg.UpdateClass) (*tg.Message, bool) {
	var m tg.MessageClass
	switch u := u.(type) {
	case *tg.UpdateNewMessage:
		m = u.Message
	case *tg.UpdateNewChannelMessage:
		m = u.Message
	case *tg.UpdateEditMessage:
		m = u.Message
	case *tg.UpdateEditChannelMessage:
		m = u.Message
	}
	msg, ok := m.(*tg.Message)
	return msg, ok
}
