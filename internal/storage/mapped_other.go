//go:build !linux

package storage

// ReleaseMapped does nothing outside Linux.
func (db *DB) ReleaseMapped() error { return nil }

func releaseMapped(uintptr, int64) error { return nil }
