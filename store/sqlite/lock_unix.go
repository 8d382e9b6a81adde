//go:build unix

package sqlite

import (
	"os"
	"sync"
	"syscall"
)

// heldMu guards held: stores may start at once.
var heldMu sync.Mutex

// lockFile takes an exclusive lock on path (created if missing) for the
// life of the process, and reports whether it got it.
func lockFile(path string) bool {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return false
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return false
	}
	heldMu.Lock()
	held = append(held, f)
	heldMu.Unlock()
	return true
}
