//go:build linux

package storage

import "golang.org/x/sys/unix"

// ReleaseMapped drops the database file's pages from this process's memory
// map (madvise MADV_DONTNEED). bbolt reads through a read-only shared
// mapping and writes with pwrite, so the pages stay in the kernel's page
// cache and come back on the next read as minor faults: nothing is lost,
// but a large file read once (a drained backlog) no longer counts in the
// process's resident memory. A read transaction holds bbolt's mapping lock
// meanwhile, so the mapping cannot move under the call.
func (db *DB) ReleaseMapped() error {
	tx, err := db.Begin(false)
	if err != nil {
		return err
	}
	defer func() { _ = tx.Rollback() }()
	return releaseMapped(db.Info().Data, tx.Size())
}

// releaseMapped is madvise(MADV_DONTNEED) of the mapping at data, size
// bytes; the caller holds a read transaction.
func releaseMapped(data uintptr, size int64) error {
	if data == 0 || size <= 0 {
		return nil
	}
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, data, uintptr(size), unix.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}
