package send

import (
	"crypto/rand"
	"encoding/binary"
	"os"
)

// RandomID returns a random non-zero MTProto random_id.
func RandomID() int64 {
	var b [8]byte
	for {
		_, _ = rand.Read(b[:])
		if id := int64(binary.LittleEndian.Uint64(b[:])); id != 0 {
			return id
		}
	}
}

// NewDocument describes a file being uploaded.
type NewDocument struct {
	FileName string
	MimeType string
}

// Spool is an uploaded file kept on disk, with its size and SHA-256, until
// it is sent to Telegram. Close removes it unless Keep moved it first.
type Spool struct {
	f      *os.File
	Size   int64
	SHA256 string
	kept   bool
}

// NewSpool wraps an open file; Close removes it.
func NewSpool(f *os.File) *Spool { return &Spool{f: f} }

// File is the open file, to be read from the start.
func (s *Spool) File() *os.File { return s.f }

// Keep moves the file to path, where Close leaves it.
func (s *Spool) Keep(path string) error {
	if err := os.Rename(s.f.Name(), path); err != nil {
		return err
	}
	s.kept = true
	return nil
}

// Close closes the file and removes it unless it was kept.
func (s *Spool) Close() error {
	err := s.f.Close()
	if !s.kept {
		_ = os.Remove(s.f.Name())
	}
	return err
}
