package store

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/tgbotsvc/tgbot/internal/sender/send"
)

func TestPeers(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "s.db"))
	require.NoError(t, err)
	defer st.Close()
	require.NoError(t, st.PutPeers(Peer{Kind: send.PeerChannel, ID: 77, AccessHash: 5, Username: "Chan_Name"}))
	p, err := st.PeerByUsername("chan_name")
	require.NoError(t, err)
	require.Equal(t, int64(-1000000000077), p.ChatID())
	require.Equal(t, int64(5), p.AccessHash)
	_, err = st.Peer(send.PeerUser, 77)
	require.ErrorIs(t, err, ErrNotFound)
}

func TestIdempotencyRecords(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "s.db"))
	require.NoError(t, err)
	defer st.Close()
	now := time.Now()
	mine := IdemRecord{State: IdemInFlight, Fingerprint: "f", Owner: "a", CreatedAt: now}
	old, err := st.BeginIdempotent("k", mine, true)
	require.NoError(t, err)
	require.Nil(t, old, "first claim")

	again, err := st.BeginIdempotent("k", IdemRecord{State: IdemInFlight, Fingerprint: "f", Owner: "a"}, true)
	require.NoError(t, err)
	require.Equal(t, "a", again.Owner, "same owner: the claim stays")

	other, err := st.BeginIdempotent("k", IdemRecord{State: IdemInFlight, Fingerprint: "g", Owner: "b"}, true)
	require.NoError(t, err)
	require.Equal(t, "f", other.Fingerprint, "another request: no take-over")
	cur, err := st.Idempotent("k")
	require.NoError(t, err)
	require.Equal(t, "a", cur.Owner)

	taken, err := st.BeginIdempotent("k", IdemRecord{State: IdemInFlight, Fingerprint: "f", Owner: "b", CreatedAt: now}, true)
	require.NoError(t, err)
	require.Equal(t, "a", taken.Owner)
	cur, err = st.Idempotent("k")
	require.NoError(t, err)
	require.Equal(t, "b", cur.Owner, "a dead owner's claim of the same request is taken over")

	require.NoError(t, st.PutIdempotent("old", IdemRecord{State: IdemDone, CreatedAt: now.Add(-2 * time.Hour)}))
	n, err := st.ExpireIdempotent(now.Add(-time.Hour))
	require.NoError(t, err)
	require.Equal(t, 1, n)
	_, err = st.Idempotent("old")
	require.ErrorIs(t, err, ErrNotFound)
}

func TestSaveItemsCountsOnce(t *testing.T) {
	st, err := Open(filepath.Join(t.TempDir(), "s.db"))
	require.NoError(t, err)
	defer st.Close()
	items := []Item{{Index: 0, Status: ItemPending}, {Index: 1, Status: ItemPending}}
	created, err := st.CreateJob(Job{ID: "j", Status: JobQueued, Total: 2, CreatedAt: time.Now()}, items)
	require.NoError(t, err)
	require.True(t, created)
	now := time.Now()
	j, err := st.SaveItems("j", []Item{{Index: 0, Status: ItemSent, MessageID: 5}}, now)
	require.NoError(t, err)
	require.Equal(t, 1, j.Sent)
	require.Equal(t, JobRunning, j.Status)
	j, err = st.SaveItems("j", []Item{{Index: 0, Status: ItemSent, MessageID: 5}}, now)
	require.NoError(t, err)
	require.Equal(t, 1, j.Sent, "saving a finished item again does not count it twice")
	j, err = st.SaveItems("j", []Item{{Index: 1, Status: ItemFailed}}, now)
	require.NoError(t, err)
	require.Equal(t, JobDone, j.Status)
	require.NotNil(t, j.FinishedAt)
	pending, err := st.PendingItems("j", 0, 10)
	require.NoError(t, err)
	require.Empty(t, pending)
	jobs, err := st.UnfinishedJobs()
	require.NoError(t, err)
	require.Empty(t, jobs)
}
