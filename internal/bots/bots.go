// Package bots is what the receiver and the sender share to serve several
// bots from one process: bot tokens (parsed and checked, never printed),
// the per-bot directory DATA_DIR/bots/<bot_id>/ that holds a bot's session
// and, for bots added at runtime, its token (file mode 0600), the migration
// of a single-bot DATA_DIR to that layout, and the admin routes
// GET/PUT/DELETE /admin/bots over a service's Fleet.
//
// Limitations:
//   - A bot named in TG_BOT_TOKEN or TG_BOT_TOKENS comes back at the next
//     start after DELETE /admin/bots/{bot_id}: remove it from the
//     environment too.
package bots

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
)

// Token is a bot token "<bot_id>:<secret>" with its ID parsed. String and
// GoString hide the secret, so a Token printed by mistake leaks nothing.
type Token struct {
	id     int64
	secret string
}

// ErrBadToken is returned for a token that is not "<bot_id>:<secret>".
var ErrBadToken = errors.New("not a bot token of the form <bot_id>:<secret>")

// ParseToken parses "<bot_id>:<secret>". The error never contains the
// token.
func ParseToken(s string) (Token, error) {
	idStr, secret, ok := strings.Cut(strings.TrimSpace(s), ":")
	if !ok || secret == "" {
		return Token{}, ErrBadToken
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id <= 0 {
		return Token{}, ErrBadToken
	}
	for _, r := range secret {
		if !(r == '_' || r == '-' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			return Token{}, ErrBadToken
		}
	}
	return Token{id: id, secret: secret}, nil
}

// ID is the bot's Telegram user ID (the token's prefix).
func (t Token) ID() int64 { return t.id }

// Value is the whole token, for the login call only.
func (t Token) Value() string { return strconv.FormatInt(t.id, 10) + ":" + t.secret }

// String hides the secret.
func (t Token) String() string { return strconv.FormatInt(t.id, 10) + ":***" }

// GoString hides the secret.
func (t Token) GoString() string { return t.String() }

// FromConfig returns the tokens of TG_BOT_TOKEN and TG_BOT_TOKENS (their
// union, in order, each bot once). Two different tokens for one bot ID are
// an error naming the ID.
func FromConfig(single string, list []string) ([]Token, error) {
	var (
		out  []Token
		seen = map[int64]string{}
		errs []error
	)
	add := func(name, s string) {
		if strings.TrimSpace(s) == "" {
			return
		}
		t, err := ParseToken(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", name, err))
			return
		}
		if prev, ok := seen[t.id]; ok {
			if prev != t.secret {
				errs = append(errs, fmt.Errorf("%s: two different tokens for bot %d", name, t.id))
			}
			return
		}
		seen[t.id] = t.secret
		out = append(out, t)
	}
	add("TG_BOT_TOKEN", single)
	for i, s := range list {
		add(fmt.Sprintf("TG_BOT_TOKENS (item %d)", i+1), s)
	}
	return out, errors.Join(errs...)
}

// Dir is a bot's directory in dataDir: DATA_DIR/bots/<bot_id>.
func Dir(dataDir string, id int64) string {
	return filepath.Join(dataDir, "bots", strconv.FormatInt(id, 10))
}

// tokenFile holds the token of a bot added at runtime.
const tokenFile = "token"

// Save persists the token of a bot added at runtime (directory 0700, file
// 0600, written atomically).
func Save(dataDir string, t Token) error {
	dir := Dir(dataDir, t.id)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	tmp := filepath.Join(dir, tokenFile+".tmp")
	if err := os.WriteFile(tmp, []byte(t.Value()+"\n"), 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, tokenFile))
}

// Forget removes a bot's persisted token and session: after a restart it
// is gone unless the environment names it.
func Forget(dataDir string, id int64) error {
	return os.RemoveAll(Dir(dataDir, id))
}

// Unsave removes the persisted token of bot id, keeping the rest of its
// directory (session, store): the bot is not started again, and adding it
// back needs no new login.
func Unsave(dataDir string, id int64) error {
	err := os.Remove(filepath.Join(Dir(dataDir, id), tokenFile))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	return err
}

// IsSaved reports whether bot id has a persisted token.
func IsSaved(dataDir string, id int64) bool {
	_, err := os.Stat(filepath.Join(Dir(dataDir, id), tokenFile))
	return err == nil
}

// Saved returns the tokens of the bots added at runtime, by ID.
func Saved(dataDir string) ([]Token, error) {
	entries, err := os.ReadDir(filepath.Join(dataDir, "bots"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var out []Token
	for _, e := range entries {
		if !e.IsDir() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(dataDir, "bots", e.Name(), tokenFile))
		if errors.Is(err, os.ErrNotExist) {
			continue // a bot from the environment: only its session is here
		}
		if err != nil {
			return nil, err
		}
		t, err := ParseToken(string(b))
		if err != nil || strconv.FormatInt(t.id, 10) != e.Name() {
			return nil, fmt.Errorf("%s: damaged token file", filepath.Join("bots", e.Name(), tokenFile))
		}
		out = append(out, t)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].id < out[j].id })
	return out, nil
}

// Merge returns env followed by the saved tokens of bots env does not name.
func Merge(env, saved []Token) []Token {
	out := append([]Token(nil), env...)
	have := make(map[int64]bool, len(env))
	for _, t := range env {
		have[t.id] = true
	}
	for _, t := range saved {
		if !have[t.id] {
			out = append(out, t)
		}
	}
	return out
}

// SessionFile is the session file of service for bot id:
// DATA_DIR/bots/<bot_id>/<service>.session.json.
func SessionFile(dataDir string, id int64, service string) string {
	return filepath.Join(Dir(dataDir, id), service+".session.json")
}

// LegacyOwner is the bot a single-bot DATA_DIR's files belong to: the bot
// of TG_BOT_TOKEN (single), or the only bot configured; ok is false when
// that cannot be told (no token, or several without TG_BOT_TOKEN).
func LegacyOwner(single string, tokens []Token) (id int64, ok bool) {
	if len(tokens) == 0 || single == "" && len(tokens) > 1 {
		return 0, false
	}
	return tokens[0].ID(), true
}

// MigrateSession moves a single-bot DATA_DIR's session (old, e.g.
// DATA_DIR/receiver.session.json) to bot id's directory, so an existing
// deployment keeps its login. It does nothing when old is missing or the
// bot already has a session. It reports whether it moved the file.
func MigrateSession(old, dataDir string, id int64, service string) (bool, error) {
	return MoveFile(old, SessionFile(dataDir, id, service))
}

// MoveFile moves old to dst (creating dst's directory, 0700) unless old is
// missing or dst exists already: what a single-bot DATA_DIR had moves into
// a bot's directory once, and never over what is there. It reports whether
// it moved the file.
func MoveFile(old, dst string) (bool, error) {
	if _, err := os.Stat(old); err != nil {
		return false, nil
	}
	if _, err := os.Stat(dst); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o700); err != nil {
		return false, err
	}
	if err := os.Rename(old, dst); err != nil {
		return false, err
	}
	return true, nil
}
