package gateway

import (
	"context"

	"github.com/gotd/td/tg"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

// This file holds what the bot does to messages it already sent (edits,
// deletions, pins), around them (chat actions) and to button presses
// (callback answers). Each runs like a send: resolved recipient, waiting
// through reconnects, errors classified.

// inChat runs call with the recipient's peer, resolving a username afresh
// once when the stored one no longer reaches anyone (as send does). It
// returns the Bot-API chat ID.
func (g *Gateway) inChat(ctx context.Context, r send.Recipient, call func(api *tg.Client, peer tg.InputPeerClass, chatID int64) error) (int64, error) {
	var chatID int64
	run := func(fresh bool) (cached bool, err error) {
		err = g.whileConnected(ctx, func() error {
			api, err := g.client()
			if err != nil {
				return err
			}
			peer, id, c, err := g.resolve(ctx, api, r, fresh)
			if err != nil {
				return err
			}
			cached, chatID = c, id
			if err := call(api, peer, id); err != nil {
				return classifyIn(err, id)
			}
			return nil
		})
		return cached, err
	}
	cached, err := run(false)
	if err != nil && cached && send.As(err).Code == "chat_not_found" {
		_, err = run(true)
	}
	return chatID, err
}

// classifyIn is classify with the group wording for groups' unknown peers.
func classifyIn(err error, chatID int64) *send.Error {
	e := classify(err)
	if chatID < 0 && e.TelegramError == "PEER_ID_INVALID" {
		group := *e
		group.Message = notAMember
		return &group
	}
	return e
}

// EditMessage changes the text (or caption) and inline keyboard of a
// message the bot sent.
func (g *Gateway) EditMessage(ctx context.Context, e send.Edit) (send.EditResult, error) {
	res := send.EditResult{MessageID: e.MessageID}
	req := &tg.MessagesEditMessageRequest{ID: e.MessageID, ReplyMarkup: markup(e.Buttons)}
	req.NoWebpage = e.LinkPreview != nil && !*e.LinkPreview
	if e.Text != nil {
		field := "text"
		if e.Caption {
			field = "caption"
		}
		text, entities, err := g.format(*e.Text, e.ParseMode, field, !e.Caption)
		if err != nil {
			return res, err
		}
		req.SetMessage(text)
		req.SetEntities(entities)
	}
	chatID, err := g.inChat(ctx, e.Recipient, func(api *tg.Client, peer tg.InputPeerClass, _ int64) error {
		req.Peer = peer
		u, err := api.MessagesEditMessage(ctx, req)
		if err != nil {
			return err
		}
		g.learner.observe(u)
		res.EditDate = editDate(u, e.MessageID)
		return nil
	})
	res.ChatID = chatID
	return res, err
}

// editDate finds the edit date of message id in an edit's answer.
func editDate(u tg.UpdatesClass, id int) int {
	var updates []tg.UpdateClass
	switch u := u.(type) {
	case *tg.Updates:
		updates = u.Updates
	case *tg.UpdatesCombined:
		updates = u.Updates
	}
	for _, up := range updates {
		var msg tg.MessageClass
		switch up := up.(type) {
		case *tg.UpdateEditMessage:
			msg = up.Message
		case *tg.UpdateEditChannelMessage:
			msg = up.Message
		}
		if m, ok := msg.(*tg.Message); ok && m.ID == id {
			return m.EditDate
		}
	}
	return 0
}

// DeleteMessages deletes messages of a chat for everyone, each on its own:
// the result for each ID says whether it was deleted. An ID that is not a
// message of this chat is message_not_found (message IDs of private chats
// and basic groups are the bot's, across its chats: one of another chat is
// never deleted by mistake). The error is for the request as a whole.
func (g *Gateway) DeleteMessages(ctx context.Context, r send.Recipient, ids []int) (int64, []send.ItemResult, error) {
	out := make([]send.ItemResult, len(ids))
	chatID, err := g.inChat(ctx, r, func(api *tg.Client, peer tg.InputPeerClass, chatID int64) error {
		if ch, ok := peer.(*tg.InputPeerChannel); ok {
			in := &tg.InputChannel{ChannelID: ch.ChannelID, AccessHash: ch.AccessHash}
			for i, id := range ids {
				out[i] = deleteResult(id, func() (int, error) {
					a, err := api.ChannelsDeleteMessages(ctx, &tg.ChannelsDeleteMessagesRequest{Channel: in, ID: []int{id}})
					return a.GetPtsCount(), err
				}, chatID)
			}
			return nil
		}
		mine, err := g.messagesIn(ctx, api, chatID, ids)
		if err != nil {
			return err
		}
		for i, id := range ids {
			if !mine[id] {
				out[i] = send.ItemResult{MessageID: id, Error: send.ErrMessageNotFound.Public()}
				continue
			}
			out[i] = deleteResult(id, func() (int, error) {
				a, err := api.MessagesDeleteMessages(ctx, &tg.MessagesDeleteMessagesRequest{Revoke: true, ID: []int{id}})
				return a.GetPtsCount(), err
			}, chatID)
		}
		return nil
	})
	return chatID, out, err
}

func deleteResult(id int, call func() (int, error), chatID int64) send.ItemResult {
	n, err := call()
	switch {
	case err != nil:
		return send.ItemResult{MessageID: id, Error: classifyIn(err, chatID).Public()}
	case n == 0: // Telegram had nothing to delete
		return send.ItemResult{MessageID: id, Error: send.ErrMessageNotFound.Public()}
	}
	return send.ItemResult{MessageID: id, OK: true}
}

// messagesIn reports which of ids are messages of chat chatID.
func (g *Gateway) messagesIn(ctx context.Context, api *tg.Client, chatID int64, ids []int) (map[int]bool, error) {
	in := make([]tg.InputMessageClass, len(ids))
	for i, id := range ids {
		in[i] = &tg.InputMessageID{ID: id}
	}
	res, err := api.MessagesGetMessages(ctx, in)
	if err != nil {
		return nil, err
	}
	msgs, ok := res.AsModified()
	if !ok {
		return map[int]bool{}, nil
	}
	out := map[int]bool{}
	for _, m := range msgs.GetMessages() {
		msg, ok := m.(*tg.Message)
		if ok && peerChatID(msg.PeerID) == chatID {
			out[msg.ID] = true
		}
	}
	return out, nil
}

// peerChatID is a peer's Bot-API chat ID.
func peerChatID(p tg.PeerClass) int64 {
	switch p := p.(type) {
	case *tg.PeerUser:
		return send.JoinChatID(send.PeerUser, p.UserID)
	case *tg.PeerChat:
		return send.JoinChatID(send.PeerChat, p.ChatID)
	case *tg.PeerChannel:
		return send.JoinChatID(send.PeerChannel, p.ChannelID)
	}
	return 0
}

// Pin pins (or, with unpin, unpins) a message of the chat; silent pins
// without notifying the members.
func (g *Gateway) Pin(ctx context.Context, r send.Recipient, messageID int, silent, unpin bool) (int64, error) {
	return g.inChat(ctx, r, func(api *tg.Client, peer tg.InputPeerClass, _ int64) error {
		u, err := api.MessagesUpdatePinnedMessage(ctx, &tg.MessagesUpdatePinnedMessageRequest{
			Peer: peer, ID: messageID, Silent: silent, Unpin: unpin,
		})
		if err == nil {
			g.learner.observe(u)
		}
		return err
	})
}

// chatActions are MTProto's chat actions by their Bot API names
// (send.ChatActions).
var chatActions = map[string]func() tg.SendMessageActionClass{
	"typing":            func() tg.SendMessageActionClass { return &tg.SendMessageTypingAction{} },
	"upload_photo":      func() tg.SendMessageActionClass { return &tg.SendMessageUploadPhotoAction{} },
	"record_video":      func() tg.SendMessageActionClass { return &tg.SendMessageRecordVideoAction{} },
	"upload_video":      func() tg.SendMessageActionClass { return &tg.SendMessageUploadVideoAction{} },
	"record_voice":      func() tg.SendMessageActionClass { return &tg.SendMessageRecordAudioAction{} },
	"upload_voice":      func() tg.SendMessageActionClass { return &tg.SendMessageUploadAudioAction{} },
	"upload_document":   func() tg.SendMessageActionClass { return &tg.SendMessageUploadDocumentAction{} },
	"choose_sticker":    func() tg.SendMessageActionClass { return &tg.SendMessageChooseStickerAction{} },
	"find_location":     func() tg.SendMessageActionClass { return &tg.SendMessageGeoLocationAction{} },
	"record_video_note": func() tg.SendMessageActionClass { return &tg.SendMessageRecordRoundAction{} },
	"upload_video_note": func() tg.SendMessageActionClass { return &tg.SendMessageUploadRoundAction{} },
}

// SendChatAction shows the chat action ("typing", ...) in the chat.
func (g *Gateway) SendChatAction(ctx context.Context, r send.Recipient, action string) (int64, error) {
	mk, ok := chatActions[action]
	if !ok {
		return 0, send.ValidateChatAction(action)
	}
	return g.inChat(ctx, r, func(api *tg.Client, peer tg.InputPeerClass, _ int64) error {
		_, err := api.MessagesSetTyping(ctx, &tg.MessagesSetTypingRequest{Peer: peer, Action: mk()})
		return err
	})
}

// AnswerCallbackQuery answers a button press (a toast, an alert or a URL).
func (g *Gateway) AnswerCallbackQuery(ctx context.Context, a send.CallbackAnswer) error {
	return g.whileConnected(ctx, func() error {
		api, err := g.client()
		if err != nil {
			return err
		}
		_, err = api.MessagesSetBotCallbackAnswer(ctx, &tg.MessagesSetBotCallbackAnswerRequest{
			QueryID: a.QueryID, Message: a.Text, Alert: a.ShowAlert, URL: a.URL, CacheTime: a.CacheTime,
		})
		if err != nil {
			return classify(err)
		}
		return nil
	})
}
