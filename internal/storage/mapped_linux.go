//go:build linux

package storage

import "golang.org/x/sys/unix"

// releaseMapped drops size bytes of the mapping at data from this process's
// memory (madvise MADV_DONTNEED); the caller holds a read transaction, so
// bbolt's mapping cannot move under the call. bbolt reads through a
// read-only shared mapping and writes with pwrite, so the pages stay in the
// kernel's page cache and come back on the next read as minor faults:
// nothing is lost, but a large file read once (a drained backlog) no longer
// counts in the process's resident memory.
func releaseMapped(data uintptr, size int64) error {
	if data == 0 || size <= 0 {
		return nil
	}
	if _, _, errno := unix.Syscall(unix.SYS_MADVISE, data, uintptr(size), unix.MADV_DONTNEED); errno != 0 {
		return errno
	}
	return nil
}
