// Package httperrortest sends a request and checks that the answer is the
// JSON error body of package httperror, for the HTTP tests of both services.
package httperrortest

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/httperror"
)

// Require sends req and requires status, Content-Type application/json and
// {"error":{"code": code, "message": <not empty>}}. It returns the detail.
func Require(t *testing.T, req *http.Request, status int, code string) httperror.Detail {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	require.Equal(t, status, resp.StatusCode)
	require.Equal(t, "application/json", resp.Header.Get("Content-Type"))
	var body struct {
		Error *httperror.Detail `json:"error"`
	}
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&body))
	require.NotNil(t, body.Error, `no "error" object`)
	require.Equal(t, code, body.Error.Code)
	require.NotEmpty(t, body.Error.Message)
	return *body.Error
}
