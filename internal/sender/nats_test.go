package sender_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/natsx/natstest"
	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// startReplicas runs n senders, each with its own DATA_DIR, sharing the
// NATS server at url.
func startReplicas(t *testing.T, env *emutest.Env, url string, n int, set map[string]string) []*running {
	t.Helper()
	out := make([]*running, n)
	for i := range out {
		v := map[string]string{"NATS_URL": url}
		for k, val := range set {
			v[k] = val
		}
		out[i] = startSender(t, env, t.TempDir(), v)
	}
	return out
}

func TestNATSIdempotencyAcrossReplicas(t *testing.T) {
	env := emutest.Start(t)
	srv := natstest.Start(t)
	replicas := startReplicas(t, env, srv.ClientURL(), 3, nil)
	alice := newUser(t, env, "Alice")

	for round := range 3 {
		key := fmt.Sprintf("same-key-%d", round)
		body := map[string]any{"chat_id": alice.ID, "text": "once " + key}
		answers := make([]response, len(replicas))
		var wg sync.WaitGroup
		for i, s := range replicas {
			wg.Go(func() {
				answers[i] = s.postJSON(t, "/api_v1/send_message", body, map[string]string{"Idempotency-Key": key})
			})
		}
		wg.Wait()
		for i, a := range answers {
			require.Equal(t, http.StatusOK, a.Status, "replica %d: %s", i, a.Body)
			require.JSONEq(t, string(answers[0].Body), string(a.Body), "every replica answers the same result")
		}
		n := 0
		for _, m := range botMessages(t, env, alice.ID) {
			if m.Text == "once "+key {
				n++
			}
		}
		require.Equal(t, 1, n, "one message for one key sent to 3 replicas at once")
	}

	t.Run("a different request with the same key", func(t *testing.T) {
		resp := replicas[1].postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": alice.ID, "text": "other"},
			map[string]string{"Idempotency-Key": "same-key-0"})
		require.Equal(t, http.StatusConflict, resp.Status, string(resp.Body))
		require.Equal(t, "idempotency_conflict", resp.errorCode(t))
	})
}

func TestNATSDocumentsAcrossReplicas(t *testing.T) {
	const ttl = 700 * time.Millisecond
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) { c.FileReferenceTTL = ttl }))
	srv := natstest.Start(t)
	replicas := startReplicas(t, env, srv.ClientURL(), 2, nil)
	a, b := replicas[0], replicas[1]
	alice := newUser(t, env, "Alice")
	bob := newUser(t, env, "Bob")

	doc := a.createDocument(t, "report.txt", "", strings.NewReader("quarterly numbers\n"))

	t.Run("a document created on one replica is sent by another", func(t *testing.T) {
		resp := b.postJSON(t, "/api_v1/send_document", map[string]any{"chat_id": alice.ID, "document_id": doc.DocumentID}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		m := lastDocument(t, env, alice.ID)
		require.Equal(t, doc.SHA256, m.Document.SHA256)
		require.Equal(t, "report.txt", m.Document.Name)
	})

	t.Run("uploaded again from tg_files when its reference cannot be refreshed", func(t *testing.T) {
		fresh := a.createDocument(t, "never-sent.bin", "application/x-test", bytes.NewReader(bytes.Repeat([]byte("z"), 700<<10)))
		time.Sleep(ttl + 200*time.Millisecond)
		before := env.Server.Stats().RPC
		resp := b.postJSON(t, "/api_v1/send_document", map[string]any{"chat_id": bob.ID, "document_id": fresh.DocumentID}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		after := env.Server.Stats().RPC
		require.Greater(t, after["messages.uploadMedia"], before["messages.uploadMedia"], "uploaded again")
		m := lastDocument(t, env, bob.ID)
		require.Equal(t, fresh.SHA256, m.Document.SHA256)
		require.Equal(t, int64(700<<10), m.Document.Size)
	})

	t.Run("unknown on every replica", func(t *testing.T) {
		resp := b.postJSON(t, "/api_v1/send_document", map[string]any{"chat_id": bob.ID, "document_id": "doc_0000"}, nil)
		require.Equal(t, http.StatusNotFound, resp.Status, string(resp.Body))
	})
}

func TestNATSPeersAcrossReplicas(t *testing.T) {
	env := emutest.Start(t)
	srv := natstest.Start(t)
	replicas := startReplicas(t, env, srv.ClientURL(), 2, nil)
	u, err := env.Server.CreateUser("Carol", "carol_nats")
	require.NoError(t, err)
	resp := replicas[0].postJSON(t, "/api_v1/send_message", map[string]any{"username": "@carol_nats", "text": "hi"}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	before := env.Server.Stats().RPC["contacts.resolveUsername"]
	resp = replicas[1].postJSON(t, "/api_v1/send_message", map[string]any{"username": "carol_nats", "text": "again"}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	require.Equal(t, before, env.Server.Stats().RPC["contacts.resolveUsername"], "the second replica read the peer from tg_peers")
	var got map[string]any
	require.NoError(t, json.Unmarshal(resp.Body, &got))
	require.EqualValues(t, u.ID, got["chat_id"])
}
