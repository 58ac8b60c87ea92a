package tgemu_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/gotd/td/tg"
	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/tgemu"
	"github.com/tgbotsvc/tgbot/internal/tgemu/emutest"
)

// A user's album (control API) reaches the bot as photos with sizes and one
// grouped_id, downloadable by photo location; the chat view shows each
// photo's size and SHA-256.
func TestUserSendsAlbum(t *testing.T) {
	env := emutest.Start(t, emutest.WithConfig(func(c *tgemu.Config) { c.HTTPAddr = "127.0.0.1:0" }))
	api := apiClient{t: t, base: "http://" + env.Server.HTTPAddr()}
	user, err := env.Server.CreateUser("Rita", "")
	require.NoError(t, err)
	path := fmt.Sprintf("/v1/users/%d/albums", user.ID)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	r := newReceiver(t, env, filepath.Join(t.TempDir(), "s.json"), newMemState())
	r.run(t, env, ctx, func(ctx context.Context) error {
		status, body := api.do("POST", path, map[string]any{"count": 3, "caption": "trip"})
		require.Equal(t, 201, status, body)
		require.Len(t, body["message_ids"], 3)
		var got []*tg.Message
		for range 3 {
			got = append(got, waitMsg(t, r.msgs))
		}
		require.Equal(t, "trip", got[0].Message)
		for i, m := range got {
			require.NotZero(t, m.GroupedID)
			require.Equal(t, got[0].GroupedID, m.GroupedID)
			require.Equal(t, body["grouped_id"], float64(m.GroupedID))
			photo := m.Media.(*tg.MessageMediaPhoto).Photo.(*tg.Photo)
			require.NotEmpty(t, photo.Sizes)
			last := photo.Sizes[len(photo.Sizes)-1].(*tg.PhotoSize)
			require.Equal(t, 320+40*i, last.W, "the largest size is the image")

			file, err := r.client.API().UploadGetFile(ctx, &tg.UploadGetFileRequest{
				Location: &tg.InputPhotoFileLocation{ID: photo.ID, AccessHash: photo.AccessHash, FileReference: photo.FileReference, ThumbSize: last.Type},
				Limit:    1024 * 1024,
			})
			require.NoError(t, err)
			sum := sha256.Sum256(file.(*tg.UploadFile).Bytes)
			msgs, err := env.Server.Messages(user.ID, 0)
			require.NoError(t, err)
			v := msgs[len(msgs)-3+i]
			require.Equal(t, hex.EncodeToString(sum[:]), v.Photo.SHA256)
			require.Equal(t, last.W, v.Photo.Width)
			require.Equal(t, last.H, v.Photo.Height)
			require.Equal(t, m.GroupedID, v.GroupedID)
		}
		return nil
	})
	for _, count := range []int{1, 11} {
		status, _ := api.do("POST", path, map[string]any{"count": count})
		require.Equal(t, 400, status, count)
	}
}
