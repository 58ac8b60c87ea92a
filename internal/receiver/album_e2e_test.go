package receiver_test

import (
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/receiver/event"
)

// testAlbumIsOneEvent: a user sends an album of photos followed by a text;
// the downstream gets one media_group event carrying every photo (sizes and
// file IDs), in order, then the text.
func (s *suite) testAlbumIsOneEvent(t *testing.T) {
	env := s.env
	down := newDownstream(t)
	cfg := testConfig(env, s.dataDir(t), down.srv.URL)
	cfg.AlbumWait = 300 * time.Millisecond
	startReceiver(t, cfg)
	u := newUser(t, env, "Traveller")

	ids, grouped, err := env.Server.UserSendAlbum(u.ID, env.BotID, 3, "trip")
	require.NoError(t, err)
	require.Len(t, ids, 3)
	send(t, env, u.ID, "after the album")
	var got []event.Event
	require.Eventually(t, func() bool {
		got = down.got()
		return len(got) >= 2
	}, 15*time.Second, 20*time.Millisecond)
	time.Sleep(2 * cfg.AlbumWait) // nothing more may come
	got = down.got()
	require.Len(t, got, 2, "one event for the album, one for the text")

	album := got[0]
	require.Equal(t, event.TypeMediaGroup, album.Type)
	require.Equal(t, event.MediaGroupID(env.BotID, 0, ids[0]), album.ID)
	require.Equal(t, u.ID, album.ChatID())
	require.Equal(t, u.ID, album.From.ID)
	require.NotNil(t, album.MediaGroup)
	require.Equal(t, strconv.FormatInt(grouped, 10), album.MediaGroup.ID)
	require.Len(t, album.MediaGroup.Messages, 3)
	for i, m := range album.MediaGroup.Messages {
		require.Equal(t, ids[i], m.ID)
		require.Equal(t, album.MediaGroup.ID, m.MediaGroupID)
		require.NotEmpty(t, m.Photo, "photo sizes of item %d", i)
		require.NotEmpty(t, m.Photo[0].FileID)
		require.Positive(t, m.Photo[0].Width)
	}
	require.Equal(t, "trip", album.MediaGroup.Messages[0].Text, "the caption rides on the first item")
	require.Equal(t, "after the album", got[1].Message.Text)
	down.validateBodies(t)
}
