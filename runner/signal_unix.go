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
