package main

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/config"
)

func TestConfig(t *testing.T) {
	tests := []struct {
		name    string
		vars    map[string]string
		wantErr string
	}{
		{name: "ok", vars: map[string]string{"DOWNSTREAM_WEBHOOK_SECRET": testSecret}},
		{name: "raw secret", vars: map[string]string{"DOWNSTREAM_WEBHOOK_SECRET": "plain"}},
		{name: "no secret", vars: map[string]string{}, wantErr: "DOWNSTREAM_WEBHOOK_SECRET"},
		{name: "empty secret", vars: map[string]string{"DOWNSTREAM_WEBHOOK_SECRET": ""}, wantErr: "DOWNSTREAM_WEBHOOK_SECRET"},
		{name: "bad whsec", vars: map[string]string{"DOWNSTREAM_WEBHOOK_SECRET": "whsec_%%%"}, wantErr: "DOWNSTREAM_WEBHOOK_SECRET"},
		{name: "bad tolerance", vars: map[string]string{"DOWNSTREAM_WEBHOOK_SECRET": "x", "DOWNSTREAM_WEBHOOK_TOLERANCE": "0s"}, wantErr: "DOWNSTREAM_WEBHOOK_TOLERANCE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := config.LoadFrom[Config](tc.vars)
			if tc.wantErr != "" {
				require.ErrorContains(t, err, tc.wantErr)
				require.NotContains(t, err.Error(), "%%%")
				return
			}
			require.NoError(t, err)
			require.Equal(t, "127.0.0.1:8003", cfg.Addr)
			require.Equal(t, "http://127.0.0.1:8001", cfg.SenderURL)
			for _, f := range config.Vars(&cfg) {
				if f.Name == "DOWNSTREAM_WEBHOOK_SECRET" {
					require.Equal(t, "***", f.Value)
				}
			}
		})
	}
}
