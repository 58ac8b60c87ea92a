package httpapi

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/httperror/httperrortest"
)

// TestErrorsAreJSON walks every route of the API over real HTTP with a
// wrong method and, behind auth, a missing or wrong token, plus unknown
// paths: every error answers {"error":{"code","message"}} as
// application/json.
func TestErrorsAreJSON(t *testing.T) {
	const token = "api-token-0123456789"
	h := newTestRouter(t, []string{"other-token-0123456", token}, &fakeGateway{})
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)

	type check struct {
		name, method, path, token string
		status                    int
		code                      string
	}
	checks := []check{
		{"unknown path", http.MethodGet, "/nope", "", 404, "not_found"},
		{"unknown api path", http.MethodPost, "/api_v1/nope", token, 404, "not_found"},
		{"valid token, unknown job", http.MethodGet, "/api_v1/jobs/x", token, 404, "job_not_found"},
	}
	require.NoError(t, chi.Walk(h.(chi.Routes), func(method, route string, _ http.Handler, _ ...func(http.Handler) http.Handler) error {
		path := strings.ReplaceAll(strings.ReplaceAll(strings.ReplaceAll(route, "{id}", "x"), "{bot_id}", "1"), "/*", "/x")
		routeToken := token
		if strings.HasPrefix(route, "/admin/") {
			routeToken = "admin-token-0123456789"
			checks = append(checks,
				check{"API token on " + method + " " + route, method, path, token, 401, "unauthorized"},
				check{"wrong token " + method + " " + route, method, path, "wrong-token-0123456789", 401, "unauthorized"})
		}
		checks = append(checks, check{"wrong method " + route, http.MethodPatch, path, routeToken, 405, "method_not_allowed"})
		if strings.HasPrefix(route, "/api_v1/") && !strings.HasPrefix(route, "/api_v1/openapi.") {
			checks = append(checks,
				check{"missing token " + method + " " + route, method, path, "", 401, "unauthorized"},
				check{"wrong token " + method + " " + route, method, path, "wrong-token-0123456789", 401, "unauthorized"})
		}
		return nil
	}))
	require.Greater(t, len(checks), 15, "every route was walked")
	for _, tc := range checks {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(tc.method, srv.URL+tc.path, strings.NewReader("{}"))
			require.NoError(t, err)
			req.Header.Set("Content-Type", "application/json")
			if tc.token != "" {
				req.Header.Set("Authorization", "Bearer "+tc.token)
			}
			httperrortest.Require(t, req, tc.status, tc.code)
		})
	}
}
