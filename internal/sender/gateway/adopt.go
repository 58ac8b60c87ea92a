package gateway

import (
	"context"

	"go.uber.org/zap"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// Username is the bot's username once logged in, else "".
func (g *Gateway) Username() string {
	if u := g.username.Load(); u != nil {
		return *u
	}
	return ""
}

// Adopt makes doc, created by another bot of this service, sendable by
// this one: Telegram's file IDs belong to the bot that uploaded them, so
// the kept copy is uploaded again by this bot and recorded under the same
// document ID. Without a kept copy (SENDER_KEEP_DOCUMENT_COPIES=false) the
// document cannot move between bots.
func (g *Gateway) Adopt(ctx context.Context, doc store.Document) (store.Document, error) {
	unlock := g.docLocks.lock(doc.ID)
	defer unlock()
	if cur, err := g.store.Document(doc.ID); err == nil {
		return cur, nil // adopted meanwhile
	}
	if doc.CopyPath == "" {
		return store.Document{}, &send.Error{Kind: send.KindRefused, Code: "document_of_another_bot",
			Message: "the document was created by another bot and no copy of it is kept (SENDER_KEEP_DOCUMENT_COPIES=false): create it with this bot"}
	}
	api, err := g.client()
	if err != nil {
		return store.Document{}, err
	}
	f, err := g.copies.Open(ctx, doc.CopyPath)
	if err != nil {
		return store.Document{}, send.Internal(err)
	}
	defer f.Close()
	tgDoc, err := g.upload(ctx, api, doc, f)
	if err != nil {
		return store.Document{}, err
	}
	doc.TG, doc.SentIn = tgDoc, nil
	if err := g.store.PutDocument(doc); err != nil {
		return store.Document{}, send.Internal(err)
	}
	g.log.Info("document of another bot uploaded again by this bot", zap.String("document_id", doc.ID))
	return doc, nil
}
