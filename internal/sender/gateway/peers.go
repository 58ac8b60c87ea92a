package gateway

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// resolve turns a recipient into an input peer and its Bot-API chat ID.
// Usernames are resolved once (contacts.resolveUsername) and kept, with the
// access hashes Telegram returned, in the store; cached says the username
// came from there, fresh skips the store.
func (g *Gateway) resolve(ctx context.Context, api *tg.Client, r send.Recipient, fresh bool) (_ tg.InputPeerClass, chatID int64, cached bool, _ error) {
	if r.Username != "" {
		err := store.ErrNotFound
		var p store.Peer
		if !fresh {
			p, err = g.store.PeerByUsername(r.Username)
			cached = err == nil
		}
		if errors.Is(err, store.ErrNotFound) {
			p, err = g.resolveUsername(ctx, api, r.Username)
		}
		if err != nil {
			return nil, 0, false, err
		}
		return inputPeer(p), p.ChatID(), cached, nil
	}
	kind, id, ok := send.SplitChatID(r.ChatID)
	if !ok {
		if r.ChatID == 0 {
			return nil, 0, false, send.Invalid("chat_id", "chat_id must not be 0")
		}
		return nil, 0, false, send.Invalid("chat_id",
			"chat_id names no user (positive), group (-<id>) or channel (-100<id>)")
	}
	p := store.Peer{Kind: kind, ID: id}
	if kind != send.PeerChat {
		if stored, err := g.store.Peer(kind, id); err == nil {
			p = stored
		} else if !errors.Is(err, store.ErrNotFound) {
			return nil, 0, false, send.Internal(err)
		}
	}
	if kind == send.PeerChannel && p.AccessHash == 0 {
		var err error
		if p, err = g.resolveChannel(ctx, api, id); err != nil {
			return nil, 0, false, err
		}
	}
	return inputPeer(p), r.ChatID, false, nil
}

// resolveChannel learns the access hash of a channel or supergroup the bot
// has not addressed yet: bots may look a channel they are in up with
// access hash 0 (channels.getChannels), and must use the real one after.
// The hash is kept in the store.
func (g *Gateway) resolveChannel(ctx context.Context, api *tg.Client, id int64) (store.Peer, error) {
	res, err := api.ChannelsGetChannels(ctx, []tg.InputChannelClass{&tg.InputChannel{ChannelID: id}})
	if err != nil {
		return store.Peer{}, classify(err)
	}
	peers := learn(nil, res.GetChats())
	if err := g.store.PutPeers(peers...); err != nil {
		return store.Peer{}, send.Internal(err)
	}
	for _, p := range peers {
		if p.Kind == send.PeerChannel && p.ID == id {
			return p, nil
		}
	}
	return store.Peer{}, classify(tgerr.New(400, "CHANNEL_INVALID"))
}

func inputPeer(p store.Peer) tg.InputPeerClass {
	switch p.Kind {
	case send.PeerChat:
		return &tg.InputPeerChat{ChatID: p.ID}
	case send.PeerChannel:
		return &tg.InputPeerChannel{ChannelID: p.ID, AccessHash: p.AccessHash}
	default:
		return &tg.InputPeerUser{UserID: p.ID, AccessHash: p.AccessHash}
	}
}

func (g *Gateway) resolveUsername(ctx context.Context, api *tg.Client, username string) (store.Peer, error) {
	res, err := api.ContactsResolveUsername(ctx, &tg.ContactsResolveUsernameRequest{Username: username})
	if err != nil {
		return store.Peer{}, classify(err)
	}
	peers := learn(res.Users, res.Chats)
	if err := g.store.PutPeers(peers...); err != nil {
		return store.Peer{}, send.Internal(err)
	}
	var want store.Peer
	switch p := res.Peer.(type) {
	case *tg.PeerUser:
		want = store.Peer{Kind: send.PeerUser, ID: p.UserID}
	case *tg.PeerChat:
		want = store.Peer{Kind: send.PeerChat, ID: p.ChatID}
	case *tg.PeerChannel:
		want = store.Peer{Kind: send.PeerChannel, ID: p.ChannelID}
	}
	for _, p := range peers {
		if p.Kind == want.Kind && p.ID == want.ID {
			return p, nil
		}
	}
	if want.ID == 0 {
		return store.Peer{}, classify(tgerr.New(400, "USERNAME_NOT_OCCUPIED"))
	}
	return want, nil
}

// learn extracts peers with access hashes from users and chats of a response.
func learn(users []tg.UserClass, chats []tg.ChatClass) []store.Peer {
	now := time.Now().UTC()
	var out []store.Peer
	for _, u := range users {
		if u, ok := u.(*tg.User); ok {
			out = append(out, store.Peer{Kind: send.PeerUser, ID: u.ID, AccessHash: u.AccessHash,
				Username: strings.ToLower(u.Username), UpdatedAt: now})
		}
	}
	for _, c := range chats {
		switch c := c.(type) {
		case *tg.Chat:
			out = append(out, store.Peer{Kind: send.PeerChat, ID: c.ID, UpdatedAt: now})
		case *tg.Channel:
			out = append(out, store.Peer{Kind: send.PeerChannel, ID: c.ID, AccessHash: c.AccessHash,
				Username: strings.ToLower(c.Username), UpdatedAt: now})
		}
	}
	return out
}
