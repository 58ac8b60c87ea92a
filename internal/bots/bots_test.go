package bots_test

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/bots"
)

func TestParseToken(t *testing.T) {
	tok, err := bots.ParseToken(" 123:AAE-x_y ")
	require.NoError(t, err)
	require.Equal(t, int64(123), tok.ID())
	require.Equal(t, "123:AAE-x_y", tok.Value())
	for _, printed := range []string{tok.String(), fmt.Sprint(tok), fmt.Sprintf("%v %+v %#v", tok, tok, tok)} {
		require.NotContains(t, printed, "AAE", "the secret is never printed")
	}
	for _, bad := range []string{"", "123", "123:", ":abc", "-5:abc", "abc:def", "12:a b", "12:a:b"} {
		_, err := bots.ParseToken(bad)
		require.ErrorIs(t, err, bots.ErrBadToken, "%q", bad)
	}
}

func TestFromConfig(t *testing.T) {
	toks, err := bots.FromConfig("1:a", []string{"2:b", " 1:a", "", "3:c"})
	require.NoError(t, err)
	var ids []int64
	for _, t := range toks {
		ids = append(ids, t.ID())
	}
	require.Equal(t, []int64{1, 2, 3}, ids, "union, each bot once, in order")

	_, err = bots.FromConfig("1:a", []string{"1:other", "x"})
	require.ErrorContains(t, err, "two different tokens for bot 1")
	require.ErrorContains(t, err, "TG_BOT_TOKENS (item 2)")
	require.NotContains(t, err.Error(), "other")
}

func TestSavedTokens(t *testing.T) {
	dir := t.TempDir()
	saved, err := bots.Saved(dir)
	require.NoError(t, err)
	require.Empty(t, saved)
	for _, s := range []string{"20:b", "10:a"} {
		tok, err := bots.ParseToken(s)
		require.NoError(t, err)
		require.NoError(t, bots.Save(dir, tok))
	}
	// A bot from the environment only has its session here.
	require.NoError(t, os.MkdirAll(bots.Dir(dir, 30), 0o700))
	saved, err = bots.Saved(dir)
	require.NoError(t, err)
	require.Len(t, saved, 2)
	require.Equal(t, "10:a", saved[0].Value())
	require.Equal(t, "20:b", saved[1].Value())
	fi, err := os.Stat(filepath.Join(bots.Dir(dir, 10), "token"))
	require.NoError(t, err)
	require.Equal(t, os.FileMode(0o600), fi.Mode().Perm())

	env, err := bots.FromConfig("20:b", []string{"40:d"})
	require.NoError(t, err)
	var merged []string
	for _, t := range bots.Merge(env, saved) {
		merged = append(merged, t.Value())
	}
	require.Equal(t, []string{"20:b", "40:d", "10:a"}, merged)

	require.NoError(t, bots.Forget(dir, 10))
	saved, err = bots.Saved(dir)
	require.NoError(t, err)
	require.Len(t, saved, 1)

	// A token file that does not match its directory is refused.
	require.NoError(t, os.WriteFile(filepath.Join(bots.Dir(dir, 30), "token"), []byte("31:x"), 0o600))
	_, err = bots.Saved(dir)
	require.ErrorContains(t, err, "damaged")
}

func TestMigrateSession(t *testing.T) {
	dir := t.TempDir()
	old := filepath.Join(dir, "receiver.session.json")
	moved, err := bots.MigrateSession(old, dir, 5, "receiver")
	require.NoError(t, err)
	require.False(t, moved, "nothing to move")

	require.NoError(t, os.WriteFile(old, []byte("session"), 0o600))
	moved, err = bots.MigrateSession(old, dir, 5, "receiver")
	require.NoError(t, err)
	require.True(t, moved)
	b, err := os.ReadFile(bots.SessionFile(dir, 5, "receiver"))
	require.NoError(t, err)
	require.Equal(t, "session", string(b))
	require.NoFileExists(t, old)

	// A bot that has its own session keeps it.
	require.NoError(t, os.WriteFile(old, []byte("older"), 0o600))
	moved, err = bots.MigrateSession(old, dir, 5, "receiver")
	require.NoError(t, err)
	require.False(t, moved)
	b, err = os.ReadFile(bots.SessionFile(dir, 5, "receiver"))
	require.NoError(t, err)
	require.Equal(t, "session", string(b))
}
