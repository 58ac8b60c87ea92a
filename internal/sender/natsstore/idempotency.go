package natsstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/tgbotsvc/tgbot/internal/sender/store"
)

// ClaimTimeout is how long an in-flight Idempotency-Key claim lives without
// being refreshed by its replica before another replica may take it over.
const ClaimTimeout = 10 * time.Second

// claimRefresh is how often a replica refreshes the claims it runs.
const claimRefresh = time.Second

// Idempotency is the Idempotency-Key store in tg_idem, shared by replicas
// (it implements httpapi.IdempotencyStore). The bucket's TTL expires
// records; every write (a refresh too) starts a record's TTL again.
type Idempotency struct {
	kv jetstream.KeyValue

	mu     sync.Mutex
	claims map[string]*claim // claims of this process, refreshed
}

type claim struct {
	stop chan struct{}
	done chan struct{}
}

// Idempotency returns the Idempotency-Key store.
func (s *Stores) Idempotency() *Idempotency {
	return &Idempotency{kv: s.idem, claims: map[string]*claim{}}
}

// kvKey turns a record key (caller, bot, path and the client's key, any
// characters) into a KV key.
func kvKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Claim implements httpapi.IdempotencyStore: a free key is created with
// rec; a key held in flight by another owner that stopped refreshing it
// (dead) for the same request is taken over. A claim of this process is
// refreshed until PutIdempotent or DeleteIdempotent.
func (s *Idempotency) Claim(key string, rec store.IdemRecord) (*store.IdemRecord, bool, error) {
	k := kvKey(key)
	data, err := json.Marshal(rec)
	if err != nil {
		return nil, false, fmt.Errorf("encode: %w", err)
	}
	for range 100 {
		ctx, cancel := opCtx()
		rev, err := s.kv.Create(ctx, k, data)
		cancel()
		if err == nil {
			s.hold(k, data, rev)
			return nil, true, nil
		}
		if !errors.Is(err, jetstream.ErrKeyExists) {
			return nil, false, fmt.Errorf("%s create: %w", BucketIdempotency, err)
		}
		var old store.IdemRecord
		e, err := get(s.kv, k, &old)
		if errors.Is(err, store.ErrNotFound) {
			continue // released meanwhile
		}
		if err != nil {
			return nil, false, err
		}
		dead := old.State == store.IdemInFlight && old.Owner != rec.Owner && old.Fingerprint == rec.Fingerprint &&
			time.Since(e.Created()) > ClaimTimeout
		if !dead {
			return &old, false, nil
		}
		ctx, cancel = opCtx()
		rev, err = s.kv.Update(ctx, k, data, e.Revision())
		cancel()
		if errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
			continue
		}
		if err != nil {
			return nil, false, fmt.Errorf("%s take over: %w", BucketIdempotency, err)
		}
		s.hold(k, data, rev)
		return &old, true, nil
	}
	return nil, false, errors.New("idempotency key: too much contention")
}

// hold refreshes the claim k until released.
func (s *Idempotency) hold(k string, data []byte, rev uint64) {
	c := &claim{stop: make(chan struct{}), done: make(chan struct{})}
	s.mu.Lock()
	s.claims[k] = c
	s.mu.Unlock()
	go func() {
		defer close(c.done)
		t := time.NewTicker(claimRefresh)
		defer t.Stop()
		for {
			select {
			case <-c.stop:
				return
			case <-t.C:
			}
			ctx, cancel := context.WithTimeout(context.Background(), claimRefresh)
			if r, err := s.kv.Update(ctx, k, data, rev); err == nil {
				rev = r
			}
			cancel()
		}
	}()
}

// release stops refreshing the claim k.
func (s *Idempotency) release(k string) {
	s.mu.Lock()
	c := s.claims[k]
	delete(s.claims, k)
	s.mu.Unlock()
	if c != nil {
		close(c.stop)
		<-c.done
	}
}

// PutIdempotent implements httpapi.IdempotencyStore.
func (s *Idempotency) PutIdempotent(key string, rec store.IdemRecord) error {
	k := kvKey(key)
	s.release(k)
	return put(s.kv, k, rec)
}

// DeleteIdempotent implements httpapi.IdempotencyStore.
func (s *Idempotency) DeleteIdempotent(key string) error {
	k := kvKey(key)
	s.release(k)
	ctx, cancel := opCtx()
	defer cancel()
	if err := s.kv.Delete(ctx, k); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("%s delete: %w", BucketIdempotency, err)
	}
	return nil
}

// Idempotent returns the record under key or store.ErrNotFound.
func (s *Idempotency) Idempotent(key string) (store.IdemRecord, error) {
	var rec store.IdemRecord
	_, err := get(s.kv, kvKey(key), &rec)
	return rec, err
}
