package sender_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// TestAPI runs the synchronous API end to end against the emulator: one
// emulator and one sender for all subtests (a new auth key costs seconds
// under -race).
func TestAPI(t *testing.T) {
	env := emutest.Start(t)
	s := startSender(t, env, t.TempDir(), map[string]string{"SENDER_MAX_BODY_MB": "1"})
	alice := newUser(t, env, "Alice")
	bob := newUser(t, env, "Bob")
	blocked := newUser(t, env, "Blocker")
	require.NoError(t, env.Server.Block(blocked.ID, env.BotID))
	named, err := env.Server.CreateUser("Carol", "carol_test")
	require.NoError(t, err)

	t.Run("send variants", func(t *testing.T) {
		cases := []struct {
			name  string
			body  map[string]any
			check func(t *testing.T, text string, entities int, silent bool, replyTo int)
		}{
			{"plain", map[string]any{"chat_id": alice.ID, "text": "*not bold*"}, func(t *testing.T, text string, ents int, _ bool, _ int) {
				require.Equal(t, "*not bold*", text)
				require.Zero(t, ents)
			}},
			{"commonmark", map[string]any{"chat_id": alice.ID, "text": "**bold** and *italic*", "parse_mode": "CommonMark"}, func(t *testing.T, text string, ents int, _ bool, _ int) {
				require.Equal(t, "bold and italic", text)
				require.Equal(t, 2, ents)
			}},
			{"html upper case", map[string]any{"chat_id": alice.ID, "text": "<i>x</i>y", "parse_mode": "HTML"}, func(t *testing.T, text string, ents int, _ bool, _ int) {
				require.Equal(t, "xy", text)
				require.Equal(t, 1, ents)
			}},
			{"silent", map[string]any{"chat_id": alice.ID, "text": "shh", "silent": true}, func(t *testing.T, _ string, _ int, silent bool, _ int) {
				require.True(t, silent)
			}},
			{"username", map[string]any{"username": "@carol_test", "text": "hi carol"}, func(t *testing.T, text string, _ int, _ bool, _ int) {
				require.Equal(t, "hi carol", text)
			}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp := s.postJSON(t, "/api_v1/send_message", tc.body, nil)
				require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
				out := resp.JSON(t)
				chat := int64(out["chat_id"].(float64))
				msgs := botMessages(t, env, chat)
				last := msgs[len(msgs)-1]
				require.EqualValues(t, out["message_id"], last.ID)
				tc.check(t, last.Text, len(last.Entities), last.Silent, last.ReplyTo)
			})
		}
		// reply_to_message_id points at an earlier message of the chat.
		first := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": bob.ID, "text": "first"}, nil)
		require.Equal(t, http.StatusOK, first.Status)
		id := first.JSON(t)["message_id"]
		resp := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": bob.ID, "text": "reply", "reply_to_message_id": id}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		msgs := botMessages(t, env, bob.ID)
		require.EqualValues(t, id, msgs[len(msgs)-1].ReplyTo)
		require.Equal(t, named.ID, int64(s.postJSON(t, "/api_v1/send_message", map[string]any{"username": "carol_test", "text": "again"}, nil).JSON(t)["chat_id"].(float64)))
	})

	t.Run("group", func(t *testing.T) {
		g, err := env.Server.CreateGroup("team", []int64{alice.ID, bob.ID, env.BotID})
		require.NoError(t, err)
		resp := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": -g.ID, "text": "hello team"}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		require.EqualValues(t, -g.ID, resp.JSON(t)["chat_id"])
		msgs, err := env.Server.GroupMessages(g.ID, env.BotID)
		require.NoError(t, err)
		require.Equal(t, "hello team", msgs[len(msgs)-1].Text)
	})

	t.Run("errors", func(t *testing.T) {
		long := strings.Repeat("a", 4097)
		emoji := strings.Repeat("😀", 2049) // 4098 UTF-16 units, 2049 characters
		cases := []struct {
			name        string
			method      string
			path        string
			contentType string
			body        string
			headers     map[string]string
			status      int
			code        string
			field       string
		}{
			{"malformed json", "POST", "/api_v1/send_message", "application/json", `{"chat_id": 1, "text": `, nil, 400, "invalid_argument", ""},
			{"not json", "POST", "/api_v1/send_message", "application/json", `hello`, nil, 400, "invalid_argument", ""},
			{"empty body", "POST", "/api_v1/send_message", "application/json", ``, nil, 400, "invalid_argument", ""},
			{"trailing data", "POST", "/api_v1/send_message", "application/json", `{"chat_id":1,"text":"x"} {}`, nil, 400, "invalid_argument", ""},
			{"unknown field", "POST", "/api_v1/send_message", "application/json", `{"chat_id":1,"text":"x","colour":"red"}`, nil, 400, "invalid_argument", "colour"},
			{"empty text", "POST", "/api_v1/send_message", "application/json", `{"chat_id":1,"text":"  "}`, nil, 400, "invalid_argument", "text"},
			{"text too long", "POST", "/api_v1/send_message", "application/json", fmt.Sprintf(`{"chat_id":1,"text":%q}`, long), nil, 400, "invalid_argument", "text"},
			{"text too long in utf16", "POST", "/api_v1/send_message", "application/json", fmt.Sprintf(`{"chat_id":1,"text":%q}`, emoji), nil, 400, "invalid_argument", "text"},
			{"markup leaves nothing", "POST", "/api_v1/send_message", "application/json", `{"chat_id":1,"text":"<b></b>","parse_mode":"html"}`, nil, 400, "invalid_argument", "text"},
			{"unknown parse mode", "POST", "/api_v1/send_message", "application/json", `{"chat_id":1,"text":"x","parse_mode":"MarkdownV3"}`, nil, 400, "invalid_argument", "parse_mode"},
			{"neither chat nor username", "POST", "/api_v1/send_message", "application/json", `{"text":"x"}`, nil, 400, "invalid_argument", "chat_id"},
			{"both chat and username", "POST", "/api_v1/send_message", "application/json", `{"chat_id":1,"username":"carol_test","text":"x"}`, nil, 400, "invalid_argument", "chat_id"},
			{"chat id of no chat", "POST", "/api_v1/send_message", "application/json", `{"chat_id":-2000000000005,"text":"x"}`, nil, 400, "invalid_argument", "chat_id"},
			{"chat id as a word", "POST", "/api_v1/send_message", "application/json", `{"chat_id":"twelve","text":"x"}`, nil, 400, "invalid_argument", "chat_id"},
			{"bad username", "POST", "/api_v1/send_message", "application/json", `{"username":"@x","text":"x"}`, nil, 400, "invalid_argument", "username"},
			{"button with both kinds", "POST", "/api_v1/send_message", "application/json", `{"chat_id":1,"text":"x","buttons":[[{"text":"b","url":"https://a.b","callback_data":"c"}]]}`, nil, 400, "invalid_argument", "buttons[0][0]"},
			{"button bad url", "POST", "/api_v1/send_message", "application/json", `{"chat_id":1,"text":"x","buttons":[[{"text":"b","url":"javascript:alert(1)"}]]}`, nil, 400, "invalid_argument", "buttons[0][0].url"},
			{"negative reply", "POST", "/api_v1/send_message", "application/json", `{"chat_id":1,"text":"x","reply_to_message_id":-1}`, nil, 400, "invalid_argument", "reply_to_message_id"},
			{"caption too long", "POST", "/api_v1/send_document", "application/json", fmt.Sprintf(`{"chat_id":1,"document_id":"doc_x","caption":%q}`, strings.Repeat("c", 1025)), nil, 400, "invalid_argument", "caption"},
			{"document id missing", "POST", "/api_v1/send_document", "application/json", `{"chat_id":1}`, nil, 400, "invalid_argument", "document_id"},
			{"bulk empty list", "POST", "/api_v1/send_multiple_message", "application/json", `[]`, nil, 400, "invalid_argument", ""},
			{"bulk bad item", "POST", "/api_v1/send_multiple_message", "application/json", `[{"chat_id":1,"text":"ok"},{"chat_id":2,"text":""}]`, nil, 400, "invalid_argument", "[1].text"},
			{"bulk no recipients", "POST", "/api_v1/send_multiple_messages", "application/json", `{"text":"x"}`, nil, 400, "invalid_argument", "chat_ids"},
			{"bulk zero chat id", "POST", "/api_v1/send_multiple_messages", "application/json", `{"chat_ids":[1,0],"text":"x"}`, nil, 400, "invalid_argument", "chat_ids[1]"},
			{"bad async query", "POST", "/api_v1/send_multiple_messages?async=maybe", "application/json", `{"chat_ids":[1],"text":"x"}`, nil, 400, "invalid_argument", "async"},
			{"bad job limit", "GET", "/api_v1/jobs/job_x?limit=-1", "", ``, nil, 400, "invalid_argument", "limit"},
			{"no token", "POST", "/api_v1/send_message", "application/json", `{"chat_id":1,"text":"x"}`, map[string]string{"Authorization": ""}, 401, "unauthorized", ""},
			{"wrong token", "POST", "/api_v1/send_message", "application/json", `{"chat_id":1,"text":"x"}`, map[string]string{"Authorization": "Bearer " + testToken + "x"}, 401, "unauthorized", ""},
			{"basic auth", "GET", "/api_v1/jobs/x", "", ``, map[string]string{"Authorization": "Basic dGVzdDp0ZXN0"}, 401, "unauthorized", ""},
			{"unknown document", "POST", "/api_v1/send_document", "application/json", `{"chat_id":1,"document_id":"doc_nope"}`, nil, 404, "document_not_found", ""},
			{"unknown document in bulk", "POST", "/api_v1/send_multiple_documents", "application/json", `{"chat_ids":[1],"document_id":"doc_nope"}`, nil, 404, "document_not_found", "document_id"},
			{"unknown job", "GET", "/api_v1/jobs/job_nope", "", ``, nil, 404, "job_not_found", ""},
			{"body too large", "POST", "/api_v1/send_message", "application/json", `{"chat_id":1,"text":"` + strings.Repeat("x", 2<<20) + `"}`, nil, 413, "too_large", ""},
			{"text/plain", "POST", "/api_v1/send_message", "text/plain", `{"chat_id":1,"text":"x"}`, nil, 415, "unsupported_media_type", ""},
			{"no content type", "POST", "/api_v1/send_message", "", `{"chat_id":1,"text":"x"}`, nil, 415, "unsupported_media_type", ""},
			{"document as json", "POST", "/api_v1/create_document", "application/json", `{}`, nil, 415, "unsupported_media_type", ""},
			{"unknown chat", "POST", "/api_v1/send_message", "application/json", `{"chat_id":424242,"text":"x"}`, nil, 422, "chat_not_found", ""},
			{"unknown group", "POST", "/api_v1/send_message", "application/json", `{"chat_id":-424242,"text":"x"}`, nil, 422, "chat_not_found", ""},
			{"unknown username", "POST", "/api_v1/send_message", "application/json", `{"username":"nobody_here","text":"x"}`, nil, 422, "chat_not_found", ""},
			{"blocked", "POST", "/api_v1/send_message", "application/json", fmt.Sprintf(`{"chat_id":%d,"text":"x"}`, blocked.ID), nil, 422, "blocked_by_user", ""},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				resp := s.do(t, tc.method, tc.path, tc.contentType, []byte(tc.body), tc.headers)
				require.Equal(t, tc.status, resp.Status, string(resp.Body))
				require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
				e := resp.JSON(t)["error"].(map[string]any)
				require.Equal(t, tc.code, e["code"], string(resp.Body))
				require.NotEmpty(t, e["message"])
				if tc.field != "" {
					require.Equal(t, tc.field, e["field"], string(resp.Body))
				}
				if tc.status == 422 {
					require.Regexp(t, `^[A-Z_]+$`, e["telegram_error"], "Telegram's error text")
					require.NotEqual(t, e["telegram_error"], e["message"], "a message that says what to do")
				}
			})
		}
	})

	t.Run("errors say what to do", func(t *testing.T) {
		stranger, err := env.Server.CreateUser("Stranger", "") // never wrote to the bot
		require.NoError(t, err)
		errorOf := func(t *testing.T, resp response, status int) map[string]any {
			t.Helper()
			require.Equal(t, status, resp.Status, string(resp.Body))
			return resp.JSON(t)["error"].(map[string]any)
		}

		e := errorOf(t, s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": stranger.ID, "text": "x"}, nil), 422)
		require.Equal(t, "chat_not_found", e["code"])
		require.Equal(t, "chat not found: the user has not written to this bot yet, or the ID is wrong", e["message"])
		require.Equal(t, "PEER_ID_INVALID", e["telegram_error"])

		bulk := s.postJSON(t, "/api_v1/send_multiple_messages", map[string]any{"chat_ids": []int64{stranger.ID}, "text": "x"}, nil)
		require.Equal(t, http.StatusOK, bulk.Status, string(bulk.Body))
		item := bulk.JSON(t)["results"].([]any)[0].(map[string]any)["error"].(map[string]any)
		require.Equal(t, "PEER_ID_INVALID", item["telegram_error"], string(bulk.Body))

		e = errorOf(t, s.postJSON(t, "/api_v1/send_message", []byte(`{"chat_id":1,"text":"x","colour":"red"}`), nil), 400)
		require.Equal(t, "colour", e["field"])
		require.Equal(t, `unknown field "colour"; the fields here are: chat_id, username, text, parse_mode, buttons, silent, reply_to_message_id, link_preview, protect_content, bot`, e["message"])

		e = errorOf(t, s.postJSON(t, "/api_v1/send_message",
			[]byte(`{"chat_id":1,"text":"x","buttons":[[{"text":"a","url":"https://a.b"},{"text":"b","chat_id":1}]]}`), nil), 400)
		require.Equal(t, "buttons[0][1].chat_id", e["field"])
		require.Equal(t, `unknown field "chat_id"; the fields here are: text, callback_data, url`, e["message"])

		e = errorOf(t, s.postJSON(t, "/api_v1/send_multiple_message", []byte(`[{"chat_id":1,"text":"x"},{"chat_id":2,"txt":"y"}]`), nil), 400)
		require.Equal(t, "[1].txt", e["field"])
		require.Contains(t, e["message"], "the fields here are: chat_id, username, text,")

		e = errorOf(t, s.uploadFields(t, "x.txt", strings.NewReader("x"), map[string]string{"file": "x"}, nil), 400)
		require.Equal(t, "file", e["field"])
		require.Equal(t, `unknown form field "file": the file goes in the field "document"; the other fields are "file_name", "mime_type" and "bot"`, e["message"])
	})

	t.Run("no route and wrong method", func(t *testing.T) {
		resp := s.do(t, http.MethodGet, "/api_v1/send_message", "", nil, nil)
		require.Equal(t, http.StatusMethodNotAllowed, resp.Status)
		require.Equal(t, "method_not_allowed", resp.errorCode(t))
	})

	t.Run("flood beyond max wait answers 429", func(t *testing.T) {
		require.NoError(t, env.Server.InjectFault("messages.sendMessage", "FLOOD_WAIT_120", 1))
		resp := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": alice.ID, "text": "x"}, nil)
		require.Equal(t, http.StatusTooManyRequests, resp.Status, string(resp.Body))
		require.Equal(t, "120", resp.Header.Get("Retry-After"))
		e := resp.JSON(t)["error"].(map[string]any)
		require.Equal(t, "flood_wait", e["code"])
		require.EqualValues(t, 120, e["retry_after"])
	})

	t.Run("short flood is waited out", func(t *testing.T) {
		require.NoError(t, env.Server.InjectFault("messages.sendMessage", "FLOOD_WAIT_1", 1))
		before := len(botMessages(t, env, alice.ID))
		resp := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": alice.ID, "text": "after wait"}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		require.Len(t, botMessages(t, env, alice.ID), before+1)
	})

	t.Run("telegram failure answers 503", func(t *testing.T) {
		require.NoError(t, env.Server.InjectFault("messages.sendMessage", "INTERNAL_SERVER_ERROR", 1))
		resp := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": alice.ID, "text": "x"}, nil)
		require.Equal(t, http.StatusServiceUnavailable, resp.Status, string(resp.Body))
		require.Equal(t, "telegram_unavailable", resp.errorCode(t))
	})

	t.Run("survives a dropped connection", func(t *testing.T) {
		env.Server.DisconnectAll()
		require.Eventually(t, func() bool {
			return s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": alice.ID, "text": "after reconnect"}, nil).Status == http.StatusOK
		}, 30*time.Second, 100*time.Millisecond)
		msgs := botMessages(t, env, alice.ID)
		require.Equal(t, "after reconnect", msgs[len(msgs)-1].Text)
		// Readiness follows the connection; on a loaded machine gotd may
		// need another moment to report it.
		require.Eventually(t, func() bool { return s.do(t, http.MethodGet, "/readyz", "", nil, nil).Status == http.StatusOK },
			10*time.Second, 20*time.Millisecond)
	})

	t.Run("secrets stay out of logs", func(t *testing.T) {
		s.requireNoSecretLogged(t, testToken)
		s.requireNoSecretLogged(t, strings.SplitN(env.Telegram.BotToken, ":", 2)[1])
	})

	t.Run("operations need no token", func(t *testing.T) {
		require.Eventually(t, func() bool {
			return s.do(t, http.MethodGet, "/readyz", "", nil, map[string]string{"Authorization": ""}).Status == http.StatusOK
		}, 10*time.Second, 20*time.Millisecond)
		for _, path := range []string{"/healthz", "/metrics", "/api_v1/openapi.json", "/api_v1/openapi.yaml", "/docs/", "/docs/swagger-initializer.js", "/docs/swagger-ui-bundle.js"} {
			resp := s.do(t, http.MethodGet, path, "", nil, map[string]string{"Authorization": ""})
			require.Equal(t, http.StatusOK, resp.Status, path)
		}
		resp := s.do(t, http.MethodGet, "/docs/swagger-initializer.js", "", nil, nil)
		require.Contains(t, string(resp.Body), "/api_v1/openapi.json")
		require.NotContains(t, string(resp.Body), "petstore")
		var doc map[string]any
		require.NoError(t, json.Unmarshal(s.do(t, http.MethodGet, "/api_v1/openapi.json", "", nil, nil).Body, &doc))
		require.Contains(t, doc, "openapi")
		metrics := string(s.do(t, http.MethodGet, "/metrics", "", nil, nil).Body)
		for _, name := range []string{"sender_http_requests_total", "sender_http_request_duration_seconds", "sender_telegram_rpc_total",
			"sender_telegram_flood_waits_total", "sender_messages_sent_total", "sender_job_queue_depth"} {
			require.Contains(t, metrics, name)
		}
		bot := strconv.FormatInt(env.BotID, 10)
		require.Contains(t, metrics, `sender_telegram_ready{bot="`+bot+`"} 1`)
		require.Contains(t, metrics, `sender_telegram_rpc_total{bot="`+bot+`",code="FLOOD_WAIT",method="messages.sendMessage"}`)
		require.NotContains(t, metrics, testToken)
	})

	t.Run("idempotency", func(t *testing.T) {
		u := newUser(t, env, "Idem")
		body := map[string]any{"chat_id": u.ID, "text": "once"}
		key := map[string]string{"Idempotency-Key": "key-1"}
		first := s.postJSON(t, "/api_v1/send_message", body, key)
		require.Equal(t, http.StatusOK, first.Status)
		second := s.postJSON(t, "/api_v1/send_message", body, key)
		require.Equal(t, http.StatusOK, second.Status)
		require.Equal(t, first.Body, second.Body)
		require.Equal(t, "true", second.Header.Get("Idempotent-Replayed"))
		require.Len(t, botMessages(t, env, u.ID), 1)

		other := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": u.ID, "text": "different"}, key)
		require.Equal(t, http.StatusConflict, other.Status)
		require.Equal(t, "idempotency_conflict", other.errorCode(t))

		// A final error is replayed too.
		bad := map[string]string{"Idempotency-Key": "key-bad"}
		r1 := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": 777777, "text": "x"}, bad)
		r2 := s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": 777777, "text": "x"}, bad)
		require.Equal(t, http.StatusUnprocessableEntity, r1.Status)
		require.Equal(t, r1.Status, r2.Status)
		require.Equal(t, r1.Body, r2.Body)

		// Concurrent duplicates: one send, the same answer for all.
		conc := map[string]string{"Idempotency-Key": "key-concurrent"}
		var wg sync.WaitGroup
		answers := make([]response, 8)
		for i := range answers {
			wg.Go(func() {
				answers[i] = s.postJSON(t, "/api_v1/send_message", map[string]any{"chat_id": u.ID, "text": "burst"}, conc)
			})
		}
		wg.Wait()
		for _, a := range answers {
			require.Equal(t, http.StatusOK, a.Status, string(a.Body))
			require.Equal(t, answers[0].Body, a.Body)
		}
		require.Len(t, botMessages(t, env, u.ID), 2)

		// The same JSON written differently is the same request.
		canon := map[string]string{"Idempotency-Key": "key-canonical"}
		c1 := s.postJSON(t, "/api_v1/send_message", []byte(fmt.Sprintf(`{"chat_id":%d,"text":"caf\u00e9","silent":true}`, u.ID)), canon)
		require.Equal(t, http.StatusOK, c1.Status, string(c1.Body))
		c2 := s.postJSON(t, "/api_v1/send_message", []byte(fmt.Sprintf("{\n  \"silent\": true,\n  \"text\": \"café\",\n  \"chat_id\": %d\n}", u.ID)), canon)
		require.Equal(t, http.StatusOK, c2.Status, string(c2.Body))
		require.Equal(t, c1.Body, c2.Body)
		require.Equal(t, "true", c2.Header.Get("Idempotent-Replayed"))
		c3 := s.postJSON(t, "/api_v1/send_message", []byte(fmt.Sprintf(`{"text":"café","chat_id":%d,"silent":false}`, u.ID)), canon)
		require.Equal(t, http.StatusConflict, c3.Status, string(c3.Body))
		require.Equal(t, "idempotency_conflict", c3.errorCode(t))
		require.Len(t, botMessages(t, env, u.ID), 3)

		// Keys are per caller route: the same key on another route is another request.
		bulk := s.postJSON(t, "/api_v1/send_multiple_message", []map[string]any{{"chat_id": u.ID, "text": "bulk"}}, key)
		require.Equal(t, http.StatusOK, bulk.Status, string(bulk.Body))
		require.Len(t, botMessages(t, env, u.ID), 4)
	})

	t.Run("bulk synchronous", func(t *testing.T) {
		users := []int64{newUser(t, env, "B1").ID, newUser(t, env, "B2").ID, blocked.ID}
		resp := s.postJSON(t, "/api_v1/send_multiple_messages", map[string]any{"chat_ids": users, "usernames": []string{"carol_test"}, "text": "news"}, nil)
		require.Equal(t, http.StatusOK, resp.Status, string(resp.Body))
		var out struct {
			Results []struct {
				Index     int   `json:"index"`
				ChatID    int64 `json:"chat_id"`
				OK        bool  `json:"ok"`
				MessageID int   `json:"message_id"`
				Error     *struct {
					Code string `json:"code"`
				} `json:"error"`
			} `json:"results"`
		}
		require.NoError(t, json.Unmarshal(resp.Body, &out))
		require.Len(t, out.Results, 4)
		for i, r := range out.Results {
			require.Equal(t, i, r.Index)
		}
		require.True(t, out.Results[0].OK)
		require.True(t, out.Results[1].OK)
		require.False(t, out.Results[2].OK)
		require.Equal(t, "blocked_by_user", out.Results[2].Error.Code)
		require.True(t, out.Results[3].OK)
		require.Equal(t, named.ID, out.Results[3].ChatID)
		require.Equal(t, "news", botMessages(t, env, users[0])[0].Text)

		// The original's list form, each with its own text, under the other route name.
		list := s.postJSON(t, "/api_v1/send_multiple_message", []map[string]any{
			{"chat_id": users[0], "text": "one"}, {"chat_id": users[1], "text": "two", "parse_mode": "html"},
		}, nil)
		require.Equal(t, http.StatusOK, list.Status, string(list.Body))
		m0 := botMessages(t, env, users[0])
		m1 := botMessages(t, env, users[1])
		require.Equal(t, "one", m0[len(m0)-1].Text)
		require.Equal(t, "two", m1[len(m1)-1].Text)
	})
}
