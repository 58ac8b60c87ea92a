package gateway

import (
	"context"
	"strings"

	"github.com/gotd/td/tg"
	"github.com/gotd/td/tgerr"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

// Send sends req with randomID (which the caller keeps for retries, so a
// resend of a message Telegram already has is dropped by Telegram). A resend
// that Telegram recognises returns Duplicate=true and no message ID.
func (g *Gateway) Send(ctx context.Context, req send.Request, randomID int64) (send.Result, error) {
	res, err := g.send(ctx, req, randomID)
	kind := "message"
	if req.IsDocument() {
		kind = "document"
	}
	if req.Photo {
		kind = "photo"
	}
	if g.metrics != nil {
		if err != nil {
			g.metrics.MessagesFailed.WithLabelValues(send.As(err).Code).Inc()
		} else if !res.Duplicate {
			g.metrics.Sent(kind)
		}
	}
	return res, err
}

// send sends once more, resolving the username afresh, when a username
// the store resolved earlier no longer reaches anyone: usernames change
// hands.
func (g *Gateway) send(ctx context.Context, req send.Request, randomID int64) (res send.Result, err error) {
	var cached bool
	err = g.whileConnected(ctx, func() (err error) {
		res, cached, err = g.sendOnce(ctx, req, randomID, false)
		return err
	})
	if err != nil && cached && send.As(err).Code == "chat_not_found" {
		err = g.whileConnected(ctx, func() (err error) {
			res, _, err = g.sendOnce(ctx, req, randomID, true)
			return err
		})
	}
	return res, err
}

func (g *Gateway) sendOnce(ctx context.Context, req send.Request, randomID int64, fresh bool) (_ send.Result, cached bool, _ error) {
	api, err := g.client()
	if err != nil {
		return send.Result{}, false, err
	}
	peer, chatID, cached, err := g.resolve(ctx, api, req.Recipient, fresh)
	if err != nil {
		return send.Result{}, false, err
	}
	res, err := g.deliver(ctx, api, peer, chatID, req, randomID)
	return res, cached, err
}

func (g *Gateway) deliver(ctx context.Context, api *tg.Client, peer tg.InputPeerClass, chatID int64, req send.Request, randomID int64) (send.Result, error) {
	field := "text"
	if req.IsDocument() {
		field = "caption"
	}
	text, entities, err := g.format(req.Text, req.ParseMode, field, !req.IsDocument())
	if err != nil {
		return send.Result{}, err
	}
	var updates tg.UpdatesClass
	if req.IsDocument() {
		updates, err = g.sendDocument(ctx, api, peer, chatID, req, text, entities, randomID)
	} else {
		updates, err = api.MessagesSendMessage(ctx, &tg.MessagesSendMessageRequest{
			Peer:        peer,
			Message:     text,
			Entities:    entities,
			ReplyMarkup: markup(req.Buttons),
			Silent:      req.Silent,
			ReplyTo:     replyTo(req.ReplyTo),
			RandomID:    randomID,
			NoWebpage:   req.NoLinkPreview(),
			Noforwards:  req.ProtectContent,
		})
	}
	if err != nil && tgerr.Is(err, "RANDOM_ID_DUPLICATE") {
		return send.Result{ChatID: chatID, Duplicate: true}, nil
	}
	if err != nil {
		e := classify(err)
		if chatID < 0 && e.TelegramError == "PEER_ID_INVALID" {
			group := *e
			group.Message = notAMember // there is no user to write first
			return send.Result{}, &group
		}
		return send.Result{}, e
	}
	g.learner.observe(updates)
	id, date, _ := sentMessage(updates, randomID)
	return send.Result{ChatID: chatID, MessageID: id, Date: date}, nil
}

// format applies the parse mode. The result is checked again because markup
// can leave nothing ("<b></b>"). Mentions (tg://user?id=N) get the access
// hash the store knows for the user, if any.
func (g *Gateway) format(text, mode, field string, required bool) (string, []tg.MessageEntityClass, error) {
	out, entities, err := send.ParseText(field, "parse_mode", mode, text)
	if err != nil {
		return "", nil, err
	}
	if required && strings.TrimSpace(out) == "" {
		return "", nil, send.Invalid(field, field+" is empty once "+mode+" markup is removed")
	}
	for _, e := range entities {
		m, ok := e.(*tg.InputMessageEntityMentionName)
		if !ok || g.store == nil {
			continue
		}
		if u, ok := m.UserID.(*tg.InputUser); ok && u.AccessHash == 0 {
			if p, err := g.store.Peer(send.PeerUser, u.UserID); err == nil {
				u.AccessHash = p.AccessHash
			}
		}
	}
	return out, entities, nil
}

func markup(rows [][]send.Button) tg.ReplyMarkupClass {
	if len(rows) == 0 {
		return nil
	}
	m := &tg.ReplyInlineMarkup{}
	for _, row := range rows {
		var r tg.KeyboardInlineButtonRow
		for _, b := range row {
			btn := tg.KeyboardInlineButton{Text: b.Text}
			if b.URL != "" {
				btn.Type = &tg.InlineButtonTypeURL{URL: b.URL}
			} else {
				btn.Type = &tg.InlineButtonTypeCallback{Data: []byte(b.CallbackData)}
			}
			r.Buttons = append(r.Buttons, btn)
		}
		m.Rows = append(m.Rows, r)
	}
	return m
}

func replyTo(id int) tg.InputReplyToClass {
	if id == 0 {
		return nil
	}
	return &tg.InputReplyToMessage{ReplyToMsgID: id}
}

// sentMessage finds the ID, date and media of the message a send created.
func sentMessage(u tg.UpdatesClass, randomID int64) (id, date int, media tg.MessageMediaClass) {
	var updates []tg.UpdateClass
	switch u := u.(type) {
	case *tg.UpdateShortSentMessage:
		return u.ID, u.Date, u.Media
	case *tg.Updates:
		updates, date = u.Updates, u.Date
	case *tg.UpdatesCombined:
		updates, date = u.Updates, u.Date
	default:
		return 0, 0, nil
	}
	for _, up := range updates {
		if m, ok := up.(*tg.UpdateMessageID); ok && m.RandomID == randomID {
			id = m.ID
		}
	}
	for _, up := range updates {
		var msg tg.MessageClass
		switch up := up.(type) {
		case *tg.UpdateNewMessage:
			msg = up.Message
		case *tg.UpdateNewChannelMessage:
			msg = up.Message
		default:
			continue
		}
		m, ok := msg.(*tg.Message)
		if !ok || (id != 0 && m.ID != id) {
			continue
		}
		return m.ID, m.Date, m.Media
	}
	return id, date, nil
}
