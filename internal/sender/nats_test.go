package sender_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
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

// senderStart starts the sender a test talks to, in one mode.
type senderStart func(t *testing.T, env *emutest.Env, set map[string]string) *running

// forModes runs test against one sender in bbolt mode, and against the
// first of two replicas sharing a NATS server.
func forModes(t *testing.T, test func(t *testing.T, start senderStart)) {
	t.Run("bbolt", func(t *testing.T) {
		test(t, func(t *testing.T, env *emutest.Env, set map[string]string) *running {
			return startSender(t, env, t.TempDir(), set)
		})
	})
	t.Run("nats", func(t *testing.T) {
		test(t, func(t *testing.T, env *emutest.Env, set map[string]string) *running {
			return startReplicas(t, env, natstest.Start(t).ClientURL(), 2, set)[0]
		})
	})
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

// sentCount reads sender_messages_sent_total (all kinds) from s's /metrics.
func (s *running) sentCount(t testing.TB) int {
	t.Helper()
	resp := s.do(t, http.MethodGet, "/metrics", "", nil, nil)
	require.Equal(t, http.StatusOK, resp.Status)
	n := 0
	for _, line := range strings.Split(string(resp.Body), "\n") {
		if strings.HasPrefix(line, "sender_messages_sent_total{") {
			var v float64
			_, err := fmt.Sscan(line[strings.LastIndexByte(line, ' ')+1:], &v)
			require.NoError(t, err)
			n += int(v)
		}
	}
	return n
}

// TestNATSJobSurvivesAReplica: a job submitted to one replica is sent by
// both; one replica stops mid-job and the other finishes it; every
// recipient gets exactly one message, in order per chat.
func TestNATSJobSurvivesAReplica(t *testing.T) {
	const n = 400
	env := emutest.Start(t)
	srv := natstest.Start(t)
	replicas := startReplicas(t, env, srv.ClientURL(), 2, map[string]string{
		"SENDER_ASYNC_THRESHOLD": "10",
		"SENDER_RATE_PER_SECOND": "60",
	})
	a, b := replicas[0], replicas[1]
	users := newUsers(t, env, n)

	resp := a.postJSON(t, "/api_v1/send_multiple_message", map[string]any{"chat_ids": users, "text": "broadcast"}, nil)
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	id := resp.JSON(t)["job_id"].(string)
	require.Eventually(t, func() bool { return b.sentCount(t) >= 30 }, 30*time.Second, 20*time.Millisecond, "the other replica works on the job too")
	b.stop()
	v := a.waitJob(t, id, 60*time.Second)
	require.Equal(t, n, v.Total)
	require.Equal(t, n, v.Sent, "every recipient counted once")
	require.Zero(t, v.Failed)
	requireOneEach(t, env, users, "broadcast")
	require.Len(t, v.Results, n)
	for i, r := range v.Results {
		require.Equal(t, i, r.Index)
		require.Equal(t, "sent", r.Status)
	}
	require.Positive(t, a.sentCount(t))
}

// TestNATSJobOrderPerChat: several jobs to the same chats, on two
// replicas: each chat receives them in the order submitted.
func TestNATSJobOrderPerChat(t *testing.T) {
	const chats, jobsN = 20, 5
	env := emutest.Start(t)
	srv := natstest.Start(t)
	replicas := startReplicas(t, env, srv.ClientURL(), 2, map[string]string{"SENDER_ASYNC_THRESHOLD": "0"})
	users := newUsers(t, env, chats)
	var ids []string
	for j := range jobsN {
		resp := replicas[j%2].postJSON(t, "/api_v1/send_multiple_message", map[string]any{"chat_ids": users, "text": fmt.Sprint(j)}, nil)
		require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
		ids = append(ids, resp.JSON(t)["job_id"].(string))
	}
	for _, id := range ids {
		require.Equal(t, chats, replicas[0].waitJob(t, id, 30*time.Second).Sent)
	}
	for _, u := range users {
		msgs := botMessages(t, env, u)
		require.Len(t, msgs, jobsN)
		for j, m := range msgs {
			require.Equal(t, fmt.Sprint(j), m.Text, "user %d", u)
		}
	}
}

// TestNATSSharedRateLimits: three replicas together keep one bot within
// its limits (the emulator enforces them and answers FLOOD_WAIT past
// them): a job that all of them work on runs at the bot's rate, not three
// times it, without a single FLOOD_WAIT.
func TestNATSSharedRateLimits(t *testing.T) {
	const n, rate = 120, 30
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) {
		c.Limits = tgemu.Limits{GlobalPerSecond: rate, PerChatPerSecond: 1}
	}))
	srv := natstest.Start(t)
	replicas := startReplicas(t, env, srv.ClientURL(), 3, map[string]string{
		"SENDER_ASYNC_THRESHOLD":          "10",
		"SENDER_RATE_PER_SECOND":          fmt.Sprint(rate),
		"SENDER_RATE_PER_CHAT_PER_SECOND": "1",
	})
	users := newUsers(t, env, n)
	start := time.Now()
	resp := replicas[0].postJSON(t, "/api_v1/send_multiple_message", map[string]any{"chat_ids": users, "text": "limited"}, nil)
	require.Equal(t, http.StatusAccepted, resp.Status, string(resp.Body))
	v := replicas[1].waitJob(t, resp.JSON(t)["job_id"].(string), 60*time.Second)
	elapsed := time.Since(start)
	require.Equal(t, n, v.Sent)
	require.Zero(t, env.Server.Stats().FloodWaits, "together the replicas stay within the bot's limits")
	require.GreaterOrEqual(t, elapsed, time.Duration(n-1)*time.Second/rate, "the bot's rate, not the replicas' sum")
	working := 0
	for _, s := range replicas {
		if s.sentCount(t) > 0 {
			working++
		}
	}
	require.GreaterOrEqual(t, working, 2, "the job was spread over the replicas")
	requireOneEach(t, env, users, "limited")
}

// TestNATSFloodWaitPausesEveryReplica: a FLOOD_WAIT seen by one replica
// holds the bot's sends on the others until it ends.
func TestNATSFloodWaitPausesEveryReplica(t *testing.T) {
	env := emutest.Start(t)
	srv := natstest.Start(t)
	replicas := startReplicas(t, env, srv.ClientURL(), 2, nil)
	alice := newUser(t, env, "Alice")
	bob := newUser(t, env, "Bob")

	require.NoError(t, env.Server.InjectFault("messages.sendMessage", "FLOOD_WAIT_2", 1))
	first := make(chan response, 1)
	go func() {
		first <- replicas[0].postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": alice.ID, "text": "one"}, nil)
	}()
	require.Eventually(t, func() bool { return env.Server.Stats().FloodWaits == 1 }, 10*time.Second, 5*time.Millisecond)
	flooded := time.Now()
	time.Sleep(300 * time.Millisecond) // the key reaches the other replica
	resp := replicas[1].postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": bob.ID, "text": "two"}, nil)
	require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	require.GreaterOrEqual(t, time.Since(flooded), 1900*time.Millisecond, "the other replica waited for the FLOOD_WAIT to end")
	r := <-first
	require.Equal(t, http.StatusOK, r.Status, string(r.Body))
	require.Equal(t, 1, env.Server.Stats().FloodWaits)
}

// natsRequest sends a send_message body on tg.send.<bot_id> and returns
// the answer's status and body.
func natsRequest(t *testing.T, nc *nats.Conn, bot int64, body any, key string) (int, map[string]any) {
	t.Helper()
	data, ok := body.([]byte)
	if !ok {
		var err error
		data, err = json.Marshal(body)
		require.NoError(t, err)
	}
	msg := nats.NewMsg(fmt.Sprintf("tg.send.%d", bot))
	msg.Data = data
	if key != "" {
		msg.Header.Set("Idempotency-Key", key)
	}
	resp, err := nc.RequestMsg(msg, 30*time.Second)
	require.NoError(t, err)
	status, err := strconv.Atoi(resp.Header.Get("Status"))
	require.NoError(t, err)
	var out map[string]any
	require.NoError(t, json.Unmarshal(resp.Data, &out), string(resp.Data))
	return status, out
}

func TestNATSIngress(t *testing.T) {
	env := emutest.Start(t)
	srv := natstest.Start(t)
	replicas := startReplicas(t, env, srv.ClientURL(), 2, nil)
	alice := newUser(t, env, "Alice")
	nc, err := nats.Connect(srv.ClientURL())
	require.NoError(t, err)
	defer nc.Close()

	status, out := natsRequest(t, nc, env.BotID, map[string]any{"chat_id": alice.ID, "text": "over nats"}, "")
	require.Equal(t, http.StatusOK, status, out)
	msgs := botMessages(t, env, alice.ID)
	require.Len(t, msgs, 1)
	require.Equal(t, "over nats", msgs[0].Text)
	require.EqualValues(t, msgs[0].ID, out["message_id"])
	require.EqualValues(t, alice.ID, out["chat_id"])

	t.Run("idempotency key, also across REST", func(t *testing.T) {
		body := map[string]any{"chat_id": alice.ID, "text": "keyed"}
		s1, o1 := natsRequest(t, nc, env.BotID, body, "k1")
		s2, o2 := natsRequest(t, nc, env.BotID, body, "k1")
		require.Equal(t, http.StatusOK, s1)
		require.Equal(t, s1, s2)
		require.Equal(t, o1, o2)
		require.Len(t, botMessages(t, env, alice.ID), 2, "one message for the key")
		// A REST caller has its own scope: the same key is another request.
		resp := replicas[0].postJSON(t, "/api_v1/send_message", body, map[string]string{"Idempotency-Key": "k1"})
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
	})

	for _, tc := range []struct {
		name   string
		bot    int64
		body   any
		status int
		code   string
		field  string
	}{
		{"no text", env.BotID, map[string]any{"chat_id": alice.ID}, 400, "invalid_argument", "text"},
		{"not JSON", env.BotID, []byte("{nope"), 400, "", ""},
		{"unknown member", env.BotID, map[string]any{"chat_id": alice.ID, "text": "x", "colour": 1}, 400, "", "colour"},
		{"another bot in the body", env.BotID, map[string]any{"chat_id": alice.ID, "text": "x", "bot": 42}, 400, "invalid_argument", "bot"},
		{"unknown bot", 42, map[string]any{"chat_id": alice.ID, "text": "x"}, 404, "bot_not_found", "bot"},
		{"unknown chat", env.BotID, map[string]any{"chat_id": 987654321, "text": "x"}, 422, "chat_not_found", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, out := natsRequest(t, nc, tc.bot, tc.body, "")
			require.Equal(t, tc.status, status, out)
			e, ok := out["error"].(map[string]any)
			require.True(t, ok, out)
			require.NotEmpty(t, e["code"])
			require.NotEmpty(t, e["message"])
			if tc.code != "" {
				require.Equal(t, tc.code, e["code"], out)
			}
			if tc.field != "" {
				require.Equal(t, tc.field, e["field"], out)
			}
		})
	}
}
