//go:build !unix

package runner

import (
	"os"
	"syscall"
)

// sysProcAttr returns nil: without process groups only the started process itself is stopped.
func sysProcAttr() *syscall.SysProcAttr { return nil }

// awaitExit cannot observe an exit without reaping here; the caller falls back to Wait.
func awaitExit(int) bool { return false }

// signalGroup kills p: there are no groups and no polite termination signal to send.
func signalGroup(p *os.Process, _ syscall.Signal) error { return p.Kill() }

// Without flock a ledger cannot tell a live engine from a dead one: each Open takes over.
func lockFile(*os.File) error { return nil }
