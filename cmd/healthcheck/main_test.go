package main

import (
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	status := http.StatusOK
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(status) }))
	defer srv.Close()

	require.NoError(t, check(srv.URL, time.Second))
	status = http.StatusServiceUnavailable
	require.ErrorContains(t, check(srv.URL, time.Second), "503")
	require.Error(t, check("http://127.0.0.1:1/healthz", time.Second))
}
