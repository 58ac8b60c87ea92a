//go:build !linux

package storage

// releaseMapped does nothing outside Linux.
func releaseMapped(uintptr, int64) error { return nil }
