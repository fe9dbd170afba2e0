package runner

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Ledger records, in a directory of the state, the commands this process started and has not
// yet seen end, so that when it dies without stopping them (SIGKILL, a crash, a power cut of
// the engine alone) the next engine to open the same Ledger kills what is left: every process
// group it recorded, and every descendant carrying one of its tags, even those that left the
// group.
//
// The directory holds, per open Ledger (one per engine), a lock file held while it is open and
// one record per running command:
//
//	dir/<instance>.lock
//	dir/<instance>/<seq>    "<pid> <start time>\n"
//
// A Ledger is safe for concurrent use. The zero Ledger is not usable; use OpenLedger. A nil
// *Ledger records nothing.
type Ledger struct {
	id   string // random: the instance of the records and tags
	dir  string
	own  string // dir/<id>
	lock *os.File

	mu     sync.Mutex
	refs   int // OpenLedger calls not yet matched by Close
	closed bool
}

// Leftovers is what OpenLedger found of engines that died.
type Leftovers struct {
	// Instances counts the dead engines whose records of running commands were found.
	Instances int
	// Killed counts the processes that were still running and were killed.
	Killed int
}

// OpenLedger opens the ledger in dir (created with mode 0700), first killing whatever the
// engines that recorded there and have since died left running. Another live engine's records
// are left alone. Call Close when the engine stops.
//
// Engines of one process (tests, an engine restarted in place) share one ledger per directory:
// the records are the process's, and each OpenLedger needs its own Close.
func OpenLedger(dir string) (*Ledger, Leftovers, error) {
	opened.Lock()
	defer opened.Unlock()
	if l := opened.ledgers[dir]; l != nil {
		l.mu.Lock()
		l.refs++
		l.mu.Unlock()
		return l, Leftovers{}, nil
	}
	l, found, err := openLedger(dir)
	if err == nil {
		opened.ledgers[dir] = l
	}
	return l, found, err
}

// opened holds the ledgers this process has open, by directory.
var opened = struct {
	sync.Mutex
	ledgers map[string]*Ledger
}{ledgers: map[string]*Ledger{}}

func openLedger(dir string) (*Ledger, Leftovers, error) {
	var found Leftovers
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, found, fmt.Errorf("open process ledger: %w", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, found, fmt.Errorf("open process ledger: %w", err)
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".lock")
		if !ok {
			continue
		}
		n, dead := cleanInstance(dir, name)
		if dead && n >= 0 {
			found.Instances++
			found.Killed += n
		}
	}
	id := randomID()
	l := &Ledger{id: id, dir: dir, own: filepath.Join(dir, id), refs: 1}
	if err := os.MkdirAll(l.own, 0o700); err != nil {
		return nil, found, fmt.Errorf("open process ledger: %w", err)
	}
	f, err := os.OpenFile(l.own+".lock", os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, found, fmt.Errorf("open process ledger: %w", err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		return nil, found, fmt.Errorf("lock process ledger: %w", err)
	}
	l.lock = f
	return l, found, nil
}

// cleanInstance kills what the instance recorded if it is dead (its lock is free), and
// removes its records. It reports how many processes it killed (-1 if it had no records) and
// whether it was dead.
func cleanInstance(dir, name string) (int, bool) {
	lockPath := filepath.Join(dir, name+".lock")
	f, err := os.OpenFile(lockPath, os.O_RDWR, 0)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	if lockFile(f) != nil {
		return 0, false // alive: another engine on this state, or a concurrent Open
	}
	killed := 0
	records := filepath.Join(dir, name)
	entries, _ := os.ReadDir(records)
	if len(entries) == 0 {
		killed = -1 // closed cleanly, or died with nothing running; the tags are checked anyway
	}
	for _, e := range entries {
		b, err := os.ReadFile(filepath.Join(records, e.Name()))
		if err != nil {
			continue
		}
		var pid int
		var start uint64
		if _, err := fmt.Sscan(string(b), &pid, &start); err != nil || pid <= 1 {
			continue
		}
		// The group is certainly the one recorded only while its leader lives with the same
		// start time; after that the number may name someone else's group. Members that
		// outlived their leader are found by tag below.
		if start != 0 && startTime(pid) == start {
			if p, err := os.FindProcess(pid); err == nil && signalGroup(p, syscall.SIGKILL) == nil {
				killed++
			}
		}
	}
	if n := killTagged(name+"/", true); n > 0 {
		killed = max(killed, 0) + n
	}
	_ = os.RemoveAll(records)
	_ = os.Remove(lockPath)
	return killed, true
}

// record notes a started command.
func (l *Ledger) record(tag string, pid int) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return
	}
	_ = os.WriteFile(l.recordPath(tag), []byte(strconv.Itoa(pid)+" "+strconv.FormatUint(startTime(pid), 10)+"\n"), 0o600)
}

// forget drops the record of a command that has ended and whose descendants were killed.
func (l *Ledger) forget(tag string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	_ = os.Remove(l.recordPath(tag)) // gone already is as good as removed
}

func (l *Ledger) recordPath(tag string) string {
	_, seq, _ := strings.Cut(tag, "/")
	return filepath.Join(l.own, seq)
}

// Close gives up one OpenLedger of the ledger; the last one releases it: its records stay until
// the commands end (their Wait forgets them), and the lock is released so a later engine cleans
// up what remains. Closing more often than opening does nothing.
func (l *Ledger) Close() error {
	if l == nil {
		return nil
	}
	opened.Lock()
	defer opened.Unlock()
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	if l.refs--; l.refs > 0 {
		return nil
	}
	l.closed = true
	delete(opened.ledgers, l.dir)
	// With nothing left running, the ledger leaves no trace; otherwise the next engine finds
	// the records and the free lock, and cleans up.
	if os.Remove(l.own) == nil {
		_ = os.Remove(l.own + ".lock")
	}
	return l.lock.Close()
}
