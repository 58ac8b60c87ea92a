package receiver

import (
	"context"

	"github.com/gotd/td/telegram/message"
	"github.com/gotd/td/tg"

	"github.com/tgbotsvc/tgbot/internal/receiver/handler"
)

// replier answers for handlers through the receiver's own client
// (handler.Client).
type replier struct {
	api    *tg.Client
	sender *message.Sender
}

func newReplier(api *tg.Client) *replier {
	return &replier{api: api, sender: message.NewSender(api)}
}

// SendText implements handler.Client.
func (r *replier) SendText(ctx context.Context, peer tg.InputPeerClass, text string, replyTo int) (int, error) {
	b := &r.sender.To(peer).Builder
	if replyTo != 0 {
		b = b.Reply(replyTo)
	}
	upd, err := b.Text(ctx, text)
	if err != nil {
		return 0, err
	}
	return sentMessageID(upd), nil
}

// SendButtons implements handler.Client.
func (r *replier) SendButtons(ctx context.Context, peer tg.InputPeerClass, text string, rows [][]handler.Button) (int, error) {
	markup := &tg.ReplyInlineMarkup{}
	for _, row := range rows {
		var r tg.KeyboardInlineButtonRow
		for _, b := range row {
			r.Buttons = append(r.Buttons, tg.KeyboardInlineButton{Text: b.Text, Type: &tg.InlineButtonTypeCallback{Data: []byte(b.Data)}})
		}
		markup.Rows = append(markup.Rows, r)
	}
	upd, err := r.sender.To(peer).Markup(markup).Text(ctx, text)
	if err != nil {
		return 0, err
	}
	return sentMessageID(upd), nil
}

// AnswerCallback implements handler.Client.
func (r *replier) AnswerCallback(ctx context.Context, queryID int64, text string) error {
	_, err := r.api.MessagesSetBotCallbackAnswer(ctx, &tg.MessagesSetBotCallbackAnswerRequest{QueryID: queryID, Message: text})
	return err
}

// sentMessageID finds the new message's ID in a send result.
func sentMessageID(u tg.UpdatesClass) int {
	switch u := u.(type) {
	case *tg.UpdateShortSentMessage:
		return u.ID
	case *tg.Updates:
		for _, x := range u.Updates {
			switch x := x.(type) {
			case *tg.UpdateMessageID:
				return x.ID
			case *tg.UpdateNewMessage:
				return x.Message.GetID()
			}
		}
	}
	return 0
}
