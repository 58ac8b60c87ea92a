package receiver

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"
	"go.uber.org/zap/zaptest"

	"github.com/tgbotsvc/tgbot/internal/httperror/httperrortest"
	"github.com/tgbotsvc/tgbot/internal/receiver/metrics"
	"github.com/tgbotsvc/tgbot/internal/receiver/outbox"
	"github.com/tgbotsvc/tgbot/internal/storage"
)

// newOpsServer serves the receiver's operations routes over real HTTP, with
// a real outbox store and no Telegram client.
func newOpsServer(t *testing.T, adminToken string) string {
	t.Helper()
	db, err := storage.Open(filepath.Join(t.TempDir(), DBFile), outbox.Buckets...)
	require.NoError(t, err)
	t.Cleanup(func() { _ = db.Close() })
	s := &Service{cfg: Config{AdminToken: adminToken}, log: zaptest.NewLogger(t)}
	s.store, err = outbox.Open(db, outbox.Options{})
	require.NoError(t, err)
	s.m = metrics.New(func() float64 { return 0 })
	srv := httptest.NewServer(s.routes())
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestOpsErrorsAreJSON walks every route of the operations endpoint with a
// wrong method, an unknown path and a missing or wrong admin token: every
// error answers {"error":{"code","message"}} as application/json.
func TestOpsErrorsAreJSON(t *testing.T) {
	const token = "admin-token-0123456789"
	enabled := newOpsServer(t, token)
	disabled := newOpsServer(t, "")
	for _, tc := range []struct {
		name, base, method, path, token string
		status                          int
		code                            string
	}{
		{"healthz wrong method", enabled, http.MethodPost, "/healthz", "", 405, "method_not_allowed"},
		{"readyz wrong method", enabled, http.MethodDelete, "/readyz", "", 405, "method_not_allowed"},
		{"schema wrong method", enabled, http.MethodPut, "/events.schema.json", "", 405, "method_not_allowed"},
		{"unknown path", enabled, http.MethodGet, "/nope", "", 404, "not_found"},
		{"list missing token", enabled, http.MethodGet, "/admin/dead-letters", "", 401, "unauthorized"},
		{"list wrong token", enabled, http.MethodGet, "/admin/dead-letters", "wrong-token-0123456789", 401, "unauthorized"},
		{"replay all missing token", enabled, http.MethodPost, "/admin/dead-letters/replay", "", 401, "unauthorized"},
		{"replay one wrong token", enabled, http.MethodPost, "/admin/dead-letters/x/replay", "nope", 401, "unauthorized"},
		{"list wrong method", enabled, http.MethodPost, "/admin/dead-letters", token, 405, "method_not_allowed"},
		{"replay all wrong method", enabled, http.MethodGet, "/admin/dead-letters/replay", token, 405, "method_not_allowed"},
		{"replay one wrong method", enabled, http.MethodGet, "/admin/dead-letters/x/replay", token, 405, "method_not_allowed"},
		{"admin unknown path", enabled, http.MethodGet, "/admin/nope", token, 404, "not_found"},
		{"admin unknown path without token", enabled, http.MethodGet, "/admin/nope", "", 401, "unauthorized"},
		{"bad limit", enabled, http.MethodGet, "/admin/dead-letters?limit=-1", token, 400, "invalid_argument"},
		{"unknown dead letter", enabled, http.MethodPost, "/admin/dead-letters/x/replay", token, 404, "dead_letter_not_found"},
		{"admin disabled", disabled, http.MethodGet, "/admin/dead-letters", token, 404, "not_found"},
		{"admin disabled no token", disabled, http.MethodGet, "/admin/dead-letters", "", 404, "not_found"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, tc.base+tc.path, nil)
			require.NoError(t, err)
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			d := httperrortest.Require(t, req, tc.status, tc.code)
			require.NotContains(t, d.Message, token)
		})
	}
}
