//go:build unix

package runner

import (
	"os"
	"syscall"
)

// signalGroup sends sig to every process in the group that p leads.
func signalGroup(p *os.Process, sig syscall.Signal) error {
	return syscall.Kill(-p.Pid, sig)
}

// lockFile takes an exclusive lock on f without waiting, held until f is closed or this
// process dies; it fails if someone else holds it.
func lockFile(f *os.File) error {
	return syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
}
