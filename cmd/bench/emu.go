package main

import (
	"context"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/tgbotsvc/tgbot/internal/procrun"
)

// emuClient speaks the emulator's control API.
type emuClient struct {
	base  string
	c     *http.Client
	botID int64 // named in pushes: the emulator then need not look for its only bot
}

// emuUser is an emulated user.
type emuUser struct {
	ID         int64  `json:"id"`
	AccessHash int64  `json:"access_hash"`
	Username   string `json:"username"`
}

// emuLimits mirrors PUT /v1/limits.
type emuLimits struct {
	GlobalPerSecond  int `json:"global_per_second"`
	PerChatPerSecond int `json:"per_chat_per_second"`
	GroupPerMinute   int `json:"group_per_minute"`
}

// emuStats mirrors GET /v1/stats.
type emuStats struct {
	RPC         map[string]int `json:"rpc"`
	FloodWaits  int            `json:"flood_waits"`
	Connections int            `json:"connections"`
}

func (e *emuClient) do(ctx context.Context, method, path string, in, out any) error {
	return procrun.DoJSON(ctx, e.c, method, e.base+path, "", in, out)
}

// createUsers creates n users from conc goroutines.
func (e *emuClient) createUsers(ctx context.Context, n, conc int) ([]emuUser, error) {
	users := make([]emuUser, n)
	sum := procrun.Run(ctx, n, conc, 2*time.Minute, func(ctx context.Context, i int) error {
		in := map[string]string{"first_name": fmt.Sprintf("User%d", i), "username": fmt.Sprintf("bench_user_%d", i)}
		return e.do(ctx, http.MethodPost, "/v1/users", in, &users[i])
	})
	if sum.Errors > 0 {
		return nil, fmt.Errorf("create users: %d of %d failed: %w", sum.Errors, n, sum.FirstError)
	}
	return users, nil
}

// push makes user write text to the bot and returns the message ID.
func (e *emuClient) push(ctx context.Context, userID int64, text string) (int, error) {
	var out struct {
		MessageID int `json:"message_id"`
	}
	in := map[string]any{"text": text, "bot_id": e.botID}
	err := e.do(ctx, http.MethodPost, fmt.Sprintf("/v1/users/%d/messages", userID), in, &out)
	return out.MessageID, err
}

func (e *emuClient) setLimits(ctx context.Context, l emuLimits) error {
	return e.do(ctx, http.MethodPut, "/v1/limits", l, nil)
}

func (e *emuClient) stats(ctx context.Context) (emuStats, error) {
	var s emuStats
	err := e.do(ctx, http.MethodGet, "/v1/stats", nil, &s)
	return s, err
}

// rpcDiff lists the MTProto methods the emulator served between two stats,
// busiest first.
func rpcDiff(before, after emuStats) string {
	type count struct {
		method string
		n      int
	}
	var counts []count
	for m, n := range after.RPC {
		if d := n - before.RPC[m]; d > 0 {
			counts = append(counts, count{m, d})
		}
	}
	if len(counts) == 0 {
		return "none"
	}
	sort.Slice(counts, func(i, j int) bool { return counts[i].n > counts[j].n })
	parts := make([]string, len(counts))
	for i, c := range counts {
		parts[i] = fmt.Sprintf("%s %d", c.method, c.n)
	}
	return strings.Join(parts, ", ")
}
