package runner

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
)

// TagVariable is the environment variable every command started here carries, so that its
// descendants can be found when they leave its process group (setsid, daemonizing) and after
// the engine that started them has died. Its value is the instance of this process (random)
// and a sequence number: "3f9a1c0e7b2d4a65/12".
const TagVariable = "SLUICE_PROCESS"

var (
	instanceOnce sync.Once
	instanceID   string
	tagSeq       atomic.Int64
)

// instance names this process in the tags of commands started without a Ledger.
func instance() string {
	instanceOnce.Do(func() { instanceID = randomID() })
	return instanceID
}

func randomID() string {
	b := make([]byte, 8)
	_, _ = rand.Read(b) // never fails on supported systems
	return hex.EncodeToString(b)
}

// nextTag returns a new tag for a command recorded in l (nil: none). The tags of a ledger's
// commands start with its id, so the next engine can find them all.
func nextTag(l *Ledger) string {
	id := instance()
	if l != nil {
		id = l.id
	}
	return fmt.Sprintf("%s/%d", id, tagSeq.Add(1))
}

// startMu orders starting commands against reaping orphans: a command that has just been
// forked must be known as ours before the reaper may look at it, or the reaper could take the
// exit status its Wait needs.
var startMu sync.Mutex

// ours holds the pids of the commands started here that have not been reaped by their Wait.
var ours = map[int]bool{}
