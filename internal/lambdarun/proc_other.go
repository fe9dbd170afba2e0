//go:build !unix

package lambdarun

import "os/exec"

func isolate(*exec.Cmd) {}

func kill(cmd *exec.Cmd) {
	if cmd.Process != nil {
		cmd.Process.Kill()
	}
}
