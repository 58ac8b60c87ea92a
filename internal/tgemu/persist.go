package tgemu

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/gotd/td/crypto"
	"go.uber.org/zap"
)

// saveInterval is how often a changed state is written to DataFile.
const saveInterval = time.Second

// snapshotVersion guards the data file's format.
const snapshotVersion = 1

type snapshot struct {
	Version int    `json:"version"`
	State   *state `json:"state"`
}

// onAuthKey records a new auth key (called by mtserver after a key
// exchange) so it can be saved and restored.
func (s *Server) onAuthKey(key crypto.AuthKey) {
	id := hex.EncodeToString(key.ID[:])
	s.mu.Lock()
	if s.st.AuthKeys[id] == nil {
		s.st.AuthKeys[id] = &authKeyInfo{Key: append([]byte(nil), key.Value[:]...)}
		s.dirty = true
	}
	s.mu.Unlock()
}

// load reads DataFile, if it exists, into the state.
func (s *Server) load() error {
	data, err := os.ReadFile(s.cfg.DataFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read data file: %w", err)
	}
	snap := snapshot{State: newState()}
	if err := json.Unmarshal(data, &snap); err != nil {
		return fmt.Errorf("data file %s: %w", s.cfg.DataFile, err)
	}
	if snap.Version != snapshotVersion {
		return fmt.Errorf("data file %s: version %d, want %d", s.cfg.DataFile, snap.Version, snapshotVersion)
	}
	st := snap.State
	for _, m := range []any{st.Accounts, st.Chats, st.Documents, st.AuthKeys} {
		if m == nil {
			return fmt.Errorf("data file %s: incomplete", s.cfg.DataFile)
		}
	}
	if st.Channels == nil { // a data file from before channels
		st.Channels = map[int64]*channel{}
	}
	st.reindex()
	s.st = st
	s.log.Info("state loaded", zap.String("file", s.cfg.DataFile),
		zap.Int("accounts", len(st.Accounts)), zap.Int("auth_keys", len(st.AuthKeys)))
	return nil
}

// restoreAuthKeys hands the saved auth keys to the MTProto server.
func (s *Server) restoreAuthKeys() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, info := range s.st.AuthKeys {
		var k crypto.Key
		if len(info.Key) != len(k) {
			delete(s.st.AuthKeys, id)
			continue
		}
		copy(k[:], info.Key)
		s.mt.AddAuthKey(k.WithID())
	}
}

// save writes the state to DataFile atomically.
func (s *Server) save() error {
	s.mu.Lock()
	data, err := json.Marshal(snapshot{Version: snapshotVersion, State: s.st})
	s.dirty = false
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	if err := writeFileAtomic(s.cfg.DataFile, data, 0o600); err != nil {
		return fmt.Errorf("write data file: %w", err)
	}
	return nil
}

func (s *Server) saveLoop(ctx context.Context) {
	t := time.NewTicker(saveInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.mu.Lock()
			dirty := s.dirty
			s.mu.Unlock()
			if !dirty {
				continue
			}
			if err := s.save(); err != nil {
				s.log.Error("save state", zap.Error(err))
			}
		}
	}
}

// documentPath is where a document's bytes are kept next to DataFile.
func (s *Server) documentPath(d *document) string {
	return filepath.Join(s.cfg.DataFile+".files", strconv.FormatInt(d.ID, 10))
}

// persistDocument writes a new document's bytes next to DataFile.
func (s *Server) persistDocument(d *document) {
	if s.cfg.DataFile == "" {
		return
	}
	if err := writeFileAtomic(s.documentPath(d), d.data, 0o600); err != nil {
		s.log.Error("save document", zap.Int64("doc_id", d.ID), zap.Error(err))
	}
}

// loadDocument reads a document's bytes saved by persistDocument, nil when
// there are none.
func (s *Server) loadDocument(d *document) []byte {
	if s.cfg.DataFile == "" {
		return nil
	}
	data, err := os.ReadFile(s.documentPath(d))
	if err != nil {
		return nil
	}
	return data
}
