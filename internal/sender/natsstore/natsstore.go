// Package natsstore keeps the sender's shared state in NATS JetStream, so
// any number of sender replicas can serve the same bots: Idempotency-Key
// records in the KV bucket tg_idem (TTL = SENDER_IDEMPOTENCY_TTL), peers in
// tg_peers, documents' metadata in tg_docs and their bytes in the object
// store tg_files. It implements the interfaces the sender's packages
// present (httpapi.IdempotencyStore, gateway.Store, gateway.Copies); the
// bbolt store (package store) is the single-process implementation of the
// same interfaces.
//
// Limitations:
//   - Peers and documents are cached in each replica's memory once read:
//     an access hash does not change, and a document's file reference is
//     read again from the bucket when Telegram refuses it.
//   - An in-flight Idempotency-Key claim is refreshed every second by the
//     replica running the request; one not refreshed for ClaimTimeout is
//     taken to belong to a dead replica and is taken over.
package natsstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tgbotsvc/tgbot/internal/natsx"
	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// Bucket names.
const (
	BucketIdempotency = "tg_idem"
	BucketPeers       = "tg_peers"
	BucketDocuments   = "tg_docs"
	BucketFiles       = "tg_files"
)

// opTimeout bounds one KV operation: the store interfaces have no context
// (the bbolt store needs none), and a NATS cluster electing a leader
// answers within a few seconds.
const opTimeout = 15 * time.Second

// Stores are the sender's buckets.
type Stores struct {
	idem  jetstream.KeyValue
	peers jetstream.KeyValue
	docs  jetstream.KeyValue
	files jetstream.ObjectStore
}

// Open creates (or updates) the buckets on c. idemTTL is how long
// Idempotency-Key records live.
func Open(ctx context.Context, c *natsx.Conn, idemTTL time.Duration) (*Stores, error) {
	var s Stores
	var err error
	if s.idem, err = c.KV(ctx, jetstream.KeyValueConfig{Bucket: BucketIdempotency, TTL: idemTTL,
		Description: "sender: Idempotency-Key records", Storage: jetstream.FileStorage}); err != nil {
		return nil, err
	}
	if s.peers, err = c.KV(ctx, jetstream.KeyValueConfig{Bucket: BucketPeers,
		Description: "sender: peers (access hashes, usernames) by bot", Storage: jetstream.FileStorage}); err != nil {
		return nil, err
	}
	if s.docs, err = c.KV(ctx, jetstream.KeyValueConfig{Bucket: BucketDocuments,
		Description: "sender: documents by bot", Storage: jetstream.FileStorage}); err != nil {
		return nil, err
	}
	if s.files, err = c.ObjectStore(ctx, jetstream.ObjectStoreConfig{Bucket: BucketFiles,
		Description: "sender: the bytes of documents", Storage: jetstream.FileStorage}); err != nil {
		return nil, err
	}
	return &s, nil
}

func opCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), opTimeout)
}

// get reads key into v; store.ErrNotFound when absent.
func get(kv jetstream.KeyValue, key string, v any) (jetstream.KeyValueEntry, error) {
	ctx, cancel := opCtx()
	defer cancel()
	e, err := kv.Get(ctx, key)
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return nil, store.ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%s get: %w", kv.Bucket(), err)
	}
	if err := json.Unmarshal(e.Value(), v); err != nil {
		return nil, fmt.Errorf("%s decode %s: %w", kv.Bucket(), key, err)
	}
	return e, nil
}

func put(kv jetstream.KeyValue, key string, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	ctx, cancel := opCtx()
	defer cancel()
	if _, err := kv.Put(ctx, key, data); err != nil {
		return fmt.Errorf("%s put: %w", kv.Bucket(), err)
	}
	return nil
}

// update applies fn to the value of key with compare-and-set, retrying
// when another replica wrote it meanwhile.
func update[T any](kv jetstream.KeyValue, key string, fn func(*T)) (T, error) {
	for {
		var v T
		e, err := get(kv, key, &v)
		if err != nil {
			return v, err
		}
		fn(&v)
		data, err := json.Marshal(v)
		if err != nil {
			return v, fmt.Errorf("encode: %w", err)
		}
		ctx, cancel := opCtx()
		_, err = kv.Update(ctx, key, data, e.Revision())
		cancel()
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return v, fmt.Errorf("%s update: %w", kv.Bucket(), err)
		}
		return v, nil
	}
}
