//go:build linux

package runner

import (
	"syscall"
	"unsafe"
)

// sysProcAttr puts the command in its own process group and has the kernel kill it if the
// engine dies, even by SIGKILL, so no service outlives the engine that supervises it.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// awaitExit blocks until the process pid has exited, without reaping it, and reports whether it
// could tell. While the exited process is not reaped its pid, and so its group id, cannot be
// reused.
func awaitExit(pid int) bool {
	const pPID = 1     // P_PID from <sys/wait.h>
	var info [128]byte // siginfo_t; only the call's success matters
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_WAITID, pPID, uintptr(pid),
			uintptr(unsafe.Pointer(&info)), syscall.WEXITED|syscall.WNOWAIT, 0, 0)
		switch errno {
		case 0:
			return true
		case syscall.EINTR:
			continue
		}
		return false
	}
}
