package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// SenderClient calls the sender's REST API.
type SenderClient struct {
	base  string // e.g. http://127.0.0.1:8001
	token string
	http  *http.Client
}

// NewSenderClient returns a client for the sender at baseURL using the bearer
// token (empty: no Authorization header).
func NewSenderClient(baseURL, token string, timeout time.Duration) *SenderClient {
	return &SenderClient{base: strings.TrimRight(baseURL, "/"), token: token, http: &http.Client{Timeout: timeout}}
}

// SendMessage posts /api_v1/send_message {chat_id, text}. idempotencyKey makes
// a retried call (the same event delivered again) send nothing twice.
func (c *SenderClient) SendMessage(ctx context.Context, chatID int64, text, idempotencyKey string) (int, error) {
	body, err := json.Marshal(map[string]any{"chat_id": chatID, "text": text})
	if err != nil {
		return 0, fmt.Errorf("send_message: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+"/api_v1/send_message", bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("send_message: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return 0, fmt.Errorf("send_message: %w", err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if err != nil {
		return 0, fmt.Errorf("send_message: read response: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("send_message: status %d: %s", resp.StatusCode, bytes.TrimSpace(raw))
	}
	var out struct {
		MessageID int `json:"message_id"`
	}
	if err := json.Unmarshal(raw, &out); err != nil {
		return 0, fmt.Errorf("send_message: decode response: %w", err)
	}
	return out.MessageID, nil
}
