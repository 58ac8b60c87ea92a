package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gotd/td/tg"

	"github.com/tgbotsvc/tgbot/internal/config"
	"github.com/tgbotsvc/tgbot/internal/tgclient"
)

// The minimal gateway is the honest floor of any HTTP gateway in front of
// gotd: net/http, encoding/json and the same client setup as the bare
// baseline (internal/tgclient, NoUpdates, the same emulator), and nothing
// else: no auth, validation, logging, metrics, idempotency or store. It
// runs as its own process, the bench binary started again with
// minimalGatewayArg first, so its CPU is measured like the sender's.

// minimalGatewayArg, as the first argument, turns the bench binary into the
// minimal gateway. It is not a flag of the bench and not in -h.
const minimalGatewayArg = "-minimal-gateway"

// minimalGatewayName names the gateway's process, log file and work dir.
const minimalGatewayName = "minimal-gateway"

// minimalGatewayTokenEnv carries the bot token to the gateway process (the
// environment, not the command line, which any user can read).
const minimalGatewayTokenEnv = "BENCH_MINIMAL_GATEWAY_BOT_TOKEN"

// isMinimalGateway says whether args (os.Args[1:]) select the gateway mode.
func isMinimalGateway(args []string) bool {
	return len(args) > 0 && args[0] == minimalGatewayArg
}

// minimalGatewayConfig is what the bench passes to the gateway process.
type minimalGatewayConfig struct {
	Addr       string // listen address
	DCAddr     string // the emulator's MTProto address
	PublicKey  string // the emulator's public key file
	SessionDir string
	PeersFile  string // JSON array of {"id","access_hash"}: the peers it may send to
	BotToken   string
}

func (c minimalGatewayConfig) args() []string {
	return []string{minimalGatewayArg,
		"-addr", c.Addr, "-dc-addr", c.DCAddr, "-public-key", c.PublicKey,
		"-session-dir", c.SessionDir, "-peers", c.PeersFile}
}

// parseMinimalGateway reads the arguments after minimalGatewayArg and the
// token from the environment.
func parseMinimalGateway(args []string) (minimalGatewayConfig, error) {
	var c minimalGatewayConfig
	fs := flag.NewFlagSet("bench "+minimalGatewayArg, flag.ContinueOnError)
	fs.StringVar(&c.Addr, "addr", "", "listen address")
	fs.StringVar(&c.DCAddr, "dc-addr", "", "emulator MTProto host:port")
	fs.StringVar(&c.PublicKey, "public-key", "", "emulator public key file")
	fs.StringVar(&c.SessionDir, "session-dir", "", "directory of the session file")
	fs.StringVar(&c.PeersFile, "peers", "", "JSON file of the users' IDs and access hashes")
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	c.BotToken = os.Getenv(minimalGatewayTokenEnv)
	for name, v := range map[string]string{"-addr": c.Addr, "-dc-addr": c.DCAddr, "-public-key": c.PublicKey,
		"-session-dir": c.SessionDir, "-peers": c.PeersFile, minimalGatewayTokenEnv: c.BotToken} {
		if v == "" {
			return c, fmt.Errorf("%s %s is required", minimalGatewayArg, name)
		}
	}
	return c, nil
}

// writePeers writes the users' IDs and access hashes for the gateway.
func writePeers(path string, users []emuUser) error {
	data, err := json.Marshal(users)
	if err != nil {
		return fmt.Errorf("peers: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("peers: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return fmt.Errorf("peers: %w", err)
	}
	return nil
}

func readPeers(path string) (map[int64]int64, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("peers: %w", err)
	}
	var users []emuUser
	if err := json.Unmarshal(data, &users); err != nil {
		return nil, fmt.Errorf("peers %s: %w", path, err)
	}
	peers := make(map[int64]int64, len(users))
	for _, u := range users {
		peers[u.ID] = u.AccessHash
	}
	return peers, nil
}

// runMinimalGateway is the gateway process: it reads the peers and serves
// on c.Addr until ctx ends.
func runMinimalGateway(ctx context.Context, c minimalGatewayConfig) error {
	peers, err := readPeers(c.PeersFile)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", c.Addr)
	if err != nil {
		return fmt.Errorf("%s: %w", minimalGatewayName, err)
	}
	return serveMinimalGateway(ctx, emulatorTelegram(c.BotToken, c.DCAddr, c.PublicKey),
		tgclient.SessionFile(c.SessionDir, minimalGatewayName), peers, ln)
}

// serveMinimalGateway logs in as the bot of tgc, then serves POST
// /send_message and GET /readyz on ln until ctx ends.
func serveMinimalGateway(ctx context.Context, tgc config.Telegram, sessionPath string, peers map[int64]int64, ln net.Listener) error {
	client, err := tgclient.New(tgc, tgclient.Options{SessionPath: sessionPath, NoUpdates: true})
	if err != nil {
		_ = ln.Close()
		return fmt.Errorf("%s: %w", minimalGatewayName, err)
	}
	return client.Run(ctx, func(ctx context.Context) error {
		if _, err := tgclient.EnsureBotAuth(ctx, client, tgc.BotToken); err != nil {
			_ = ln.Close()
			return fmt.Errorf("%s: %w", minimalGatewayName, err)
		}
		srv := &http.Server{Handler: minimalGatewayHandler(client.API(), peers), ReadHeaderTimeout: 10 * time.Second}
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ln) }()
		select {
		case err := <-served:
			return fmt.Errorf("%s: %w", minimalGatewayName, err)
		case <-ctx.Done():
		}
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(sctx); err != nil {
			return fmt.Errorf("%s: %w", minimalGatewayName, err)
		}
		return nil
	})
}

// minimalGatewayHandler is the whole gateway: decode, send, encode.
func minimalGatewayHandler(api *tg.Client, peers map[int64]int64) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusOK)
	})
	mux.HandleFunc("POST /send_message", func(w http.ResponseWriter, r *http.Request) {
		var in struct {
			ChatID int64  `json:"chat_id"`
			Text   string `json:"text"`
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			minimalError(w, http.StatusBadRequest, err)
			return
		}
		hash, ok := peers[in.ChatID]
		if !ok {
			minimalError(w, http.StatusNotFound, errors.New("unknown chat_id "+strconv.FormatInt(in.ChatID, 10)))
			return
		}
		rid := randomID()
		u, err := api.MessagesSendMessage(r.Context(), &tg.MessagesSendMessageRequest{
			Peer:     &tg.InputPeerUser{UserID: in.ChatID, AccessHash: hash},
			Message:  in.Text,
			RandomID: rid,
		})
		if err != nil {
			minimalError(w, http.StatusBadGateway, err)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(struct {
			MessageID int `json:"message_id"`
		}{sentMessageID(u, rid)})
	})
	return mux
}

func minimalError(w http.ResponseWriter, status int, err error) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"code": status, "message": err.Error()}})
}

// sentMessageID is the ID of the message a send created.
func sentMessageID(u tg.UpdatesClass, randomID int64) int {
	var updates []tg.UpdateClass
	switch u := u.(type) {
	case *tg.UpdateShortSentMessage:
		return u.ID
	case *tg.Updates:
		updates = u.Updates
	case *tg.UpdatesCombined:
		updates = u.Updates
	}
	for _, up := range updates {
		if m, ok := up.(*tg.UpdateMessageID); ok && m.RandomID == randomID {
			return m.ID
		}
	}
	return 0
}
