//go:build linux

package runner

import (
	"bytes"
	"errors"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
)

const prSetChildSubreaper = 36 // PR_SET_CHILD_SUBREAPER from <linux/prctl.h>

var (
	subreaperOnce sync.Once
	// subreaper is set once this process is the child subreaper.
	subreaper atomic.Bool
)

// becomeSubreaper makes this process the subreaper of everything it starts (once): a
// descendant whose parent exits — a daemon that forked and let its parent go, a setsid'd
// child of a shell that ended — is reparented here rather than to init, so it stays ours to
// kill and to reap. Orphans are reaped on every SIGCHLD.
func becomeSubreaper() {
	subreaperOnce.Do(func() {
		if _, _, errno := syscall.RawSyscall(syscall.SYS_PRCTL, prSetChildSubreaper, 1, 0); errno != 0 {
			return // without it, orphans go to init as before; killing by tag still works
		}
		subreaper.Store(true)
		ch := make(chan os.Signal, 16)
		signal.Notify(ch, syscall.SIGCHLD)
		go func() {
			for range ch {
				reapOrphans()
			}
		}()
	})
}

// procInfo is what /proc/PID/stat says about a process.
type procInfo struct {
	pid, ppid, pgid int
	state           byte
	start           uint64 // clock ticks after boot
}

// readProc parses /proc/PID/stat.
func readProc(pid int) (procInfo, bool) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return procInfo{}, false
	}
	// The command name is in parentheses and may itself hold spaces and ")".
	i := bytes.LastIndexByte(b, ')')
	if i < 0 || i+2 >= len(b) {
		return procInfo{}, false
	}
	f := bytes.Fields(b[i+2:]) // state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime cutime cstime priority nice threads itrealvalue starttime
	if len(f) < 20 || len(f[0]) != 1 {
		return procInfo{}, false
	}
	p := procInfo{pid: pid, state: f[0][0]}
	p.ppid, _ = strconv.Atoi(string(f[1]))
	p.pgid, _ = strconv.Atoi(string(f[2]))
	p.start, _ = strconv.ParseUint(string(f[19]), 10, 64)
	return p, true
}

// processes lists the pids in /proc.
func processes() []int {
	entries, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	pids := make([]int, 0, len(entries))
	for _, e := range entries {
		if pid, err := strconv.Atoi(e.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	return pids
}

// tagged reports whether pid's environment (as it was exec'd) holds TagVariable set to value,
// or, with prefix true, to a value starting with value.
func tagged(pid int, value string, prefix bool) bool {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "environ"))
	if err != nil {
		return false
	}
	want := []byte(TagVariable + "=" + value)
	for _, kv := range bytes.Split(b, []byte{0}) {
		if prefix && bytes.HasPrefix(kv, want) || !prefix && bytes.Equal(kv, want) {
			return true
		}
	}
	return false
}

// killTagged sends SIGKILL to every process carrying the tag (or, with prefix, any tag that
// starts with it), wherever it has gone: its own group, a new session, reparented to us or to
// init. A few passes catch what forked while the previous pass ran. It returns how many
// processes it signaled.
//
// While this process is the subreaper, every descendant of a command is in its subtree (a
// descendant whose parent died is reparented here), so only the subtree is searched; a prefix
// search (the leftovers of a dead engine, reparented to init) looks at every process.
func killTagged(value string, prefix bool) int {
	self := os.Getpid()
	killed := 0
	for pass := 0; pass < 3; pass++ {
		candidates, ok := []int(nil), false
		if !prefix && subreaper.Load() {
			candidates, ok = descendants(self)
		}
		if !ok {
			candidates = processes()
		}
		n := 0
		for _, pid := range candidates {
			if pid == self || !tagged(pid, value, prefix) {
				continue
			}
			if p, ok := readProc(pid); !ok || p.state == 'Z' {
				continue
			}
			if syscall.Kill(pid, syscall.SIGKILL) == nil {
				n++
			}
		}
		killed += n
		if n == 0 {
			break
		}
	}
	if killed > 0 {
		reapOrphans()
	}
	return killed
}

// children lists the children of pid from /proc/PID/task/*/children, and reports false where
// the kernel does not offer those files.
func children(pid int) ([]int, bool) {
	tasks, err := os.ReadDir(filepath.Join("/proc", strconv.Itoa(pid), "task"))
	if err != nil {
		return nil, false
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "task", t.Name(), "children"))
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(filepath.Join("/proc", strconv.Itoa(pid), "task", t.Name())); serr == nil {
				return nil, false // the task is there but has no children file: not supported
			}
			continue // the thread ended meanwhile
		}
		if err != nil {
			continue
		}
		for _, f := range bytes.Fields(b) {
			if c, err := strconv.Atoi(string(f)); err == nil {
				out = append(out, c)
			}
		}
	}
	return out, true
}

// descendants lists every process below pid, or reports false where that cannot be read.
func descendants(pid int) ([]int, bool) {
	var out []int
	queue := []int{pid}
	seen := map[int]bool{pid: true}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		kids, ok := children(next)
		if !ok {
			if next == pid {
				return nil, false
			}
			continue // it exited while we looked
		}
		for _, c := range kids {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
				queue = append(queue, c)
			}
		}
	}
	return out, true
}

// reapOrphans reaps the exited processes that were reparented to us: children of ours that
// are neither a command started here (its Wait reaps it) nor in our own process group (where
// os/exec puts the children of everyone else in this program, such as git, whose Wait would
// fail if we took their status).
func reapOrphans() {
	startMu.Lock()
	defer startMu.Unlock()
	self, group := os.Getpid(), syscall.Getpgrp()
	kids, ok := children(self)
	if !ok {
		kids = processes()
	}
	for _, pid := range kids {
		if ours[pid] {
			continue
		}
		p, ok := readProc(pid)
		if !ok || p.ppid != self || p.state != 'Z' || p.pgid == group {
			continue
		}
		var ws syscall.WaitStatus
		_, _ = syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
	}
}

// startTime returns when pid started, in clock ticks after boot; 0 if it cannot tell.
func startTime(pid int) uint64 {
	p, _ := readProc(pid)
	return p.start
}
