//go:build unix && !linux

package runner

import "syscall"

// sysProcAttr puts the command in its own process group. These systems have no parent-death
// signal, so a service can outlive an engine that is killed without a chance to stop it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}

// awaitExit cannot observe an exit without reaping here; the caller falls back to Wait.
func awaitExit(int) bool { return false }
