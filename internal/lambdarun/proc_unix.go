//go:build unix

package lambdarun

import (
	"os/exec"
	"syscall"
)

// isolate puts the bootstrap in a process group of its own, so that kill reaches whatever it
// started too, as ending a Lambda execution environment does.
func isolate(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
}

func kill(cmd *exec.Cmd) {
	if cmd.Process == nil {
		return
	}
	syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	cmd.Process.Kill()
}
