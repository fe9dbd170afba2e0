package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/sluicehq/sluice"
)

// Ownership lives in the store as leases (store.Leases), so that an execution is driven by one
// engine however many run on the state: an engine drives only the executions it holds the lease
// of, an execution enters a stage only by taking the stage's lease, and a deployment or a
// rollback holds its environment's. The engine renews what it holds; when it dies, what it held
// expires, or is taken at once by the next engine on the same host that sees its process gone.

var (
	// errNotOwner cancels a run whose execution another engine took (this engine lost its lease):
	// it stops acting and writes nothing more.
	errNotOwner = errors.New("another engine drives this execution now")
	// liveEngines are the owners of engines open in this process (tests open several), so a lease
	// of this process's ID is known to be gone once its engine closed.
	liveEngines sync.Map
)

// newOwner returns an engine's owner ID: host, process and a random part, so a lease held by an
// engine whose process is gone can be recognised on the same host.
func newOwner() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("engine/%s/%d/%s", thisHost(), os.Getpid(), hex.EncodeToString(b[:]))
}

// thisHost is this machine's name, read once: ownerGone asks on every poll for a lease.
var thisHost = sync.OnceValue(func() string {
	host, _ := os.Hostname()
	return host
})

// ownerGone reports whether owner is an engine known to be gone: on this host, in a process
// that no longer exists, or in this process and closed.
func ownerGone(owner string) bool {
	parts := strings.Split(owner, "/")
	if len(parts) != 4 || parts[0] != "engine" {
		return false
	}
	pid, err := strconv.Atoi(parts[2])
	if parts[1] != thisHost() || err != nil || pid <= 0 {
		return false
	}
	if pid == os.Getpid() {
		_, live := liveEngines.Load(owner)
		return !live
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// take acquires key for owner, taking it from an engine known to be gone. It fails with
// ECONFLICT, and returns the lease that stands, when someone else holds it.
func (e *Engine) take(ctx context.Context, key, owner string) (*sluice.Lease, error) {
	l, err := e.store.AcquireLease(ctx, key, owner, "", e.now(), e.cfg.LeaseTTL)
	if sluice.ErrorCode(err) == sluice.ECONFLICT && l != nil && ownerGone(l.Owner) {
		l, err = e.store.AcquireLease(ctx, key, owner, l.Owner, e.now(), e.cfg.LeaseTTL)
	}
	return l, err
}

// keep renews owner's lease on key until release is called. If the lease is lost (another
// owner took it after it expired), lost is called once.
func (e *Engine) keep(key, owner string, lost func()) (release func()) {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		tick := time.NewTicker(e.cfg.LeaseTTL / 3)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			err := e.store.RenewLease(context.Background(), key, owner, e.now(), e.cfg.LeaseTTL)
			if sluice.ErrorCode(err) == sluice.ECONFLICT {
				e.log.Warn("lost a lease", "key", key, "owner", owner)
				if lost != nil {
					lost()
				}
				return
			}
			if err != nil {
				e.log.Warn("renew lease", "key", key, "err", err)
			}
		}
	}()
	return func() { once.Do(func() { close(done) }) }
}

// waitFor takes key for owner, waiting (polling) while someone else holds it; busy is called
// with the lease that stands each time it finds it held.
func (e *Engine) waitFor(ctx context.Context, key, owner string, busy func(*sluice.Lease)) error {
	for {
		l, err := e.take(ctx, key, owner)
		switch {
		case err == nil:
			return nil
		case sluice.ErrorCode(err) != sluice.ECONFLICT:
			return err
		}
		if busy != nil && l != nil {
			busy(l)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(e.cfg.LeasePoll):
		}
	}
}

// holdEnvironment takes the lease of pipeline's env for this engine, waiting while another
// deploys to it, and keeps it until release.
func (e *Engine) holdEnvironment(ctx context.Context, pipeline, env string, log func(string)) (release func(), err error) {
	key := environmentKey(pipeline, env)
	said := false
	err = e.waitFor(ctx, key, e.owner, func(l *sluice.Lease) {
		if !said && log != nil {
			log(fmt.Sprintf("waiting: another deployment to %s is in progress (held by %s)", env, l.Owner))
			said = true
		}
	})
	if err != nil {
		return nil, err
	}
	stop := e.keep(key, e.owner, nil)
	return func() {
		stop()
		if err := e.store.ReleaseLease(context.Background(), key, e.owner); err != nil {
			e.log.Warn("release environment", "environment", env, "err", err)
		}
	}, nil
}

func executionKey(id string) string { return "execution/" + id }

func stageKey(pipeline, stage string) string { return "stage/" + pipeline + "/" + stage }

func environmentKey(pipeline, env string) string { return "environment/" + pipeline + "/" + env }
