package router

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/sluicehq/sluice/rollout"
)

// The sliding windows are two rings of time buckets per version. The fine ring answers windows
// up to 30s to within 100ms, so an alarm sees a breach at most one bucket after it happens; the
// coarse ring answers the long windows, up to MaxWindow, to within a second. Both hold the
// current, partial bucket, so new responses count at once either way. 960 buckets of ~290 bytes
// is about 280 KB per version.
const (
	fineWidth   = 100 * time.Millisecond
	fineSlots   = 301 // 30s, plus the partial bucket
	coarseWidth = time.Second
	coarseSlots = 661 // 11m, plus the partial bucket

	// MaxWindow is the longest span Window answers; longer requests get this much.
	MaxWindow = (coarseSlots - 1) * coarseWidth
)

// versionStats is everything measured about one version. It outlives the tables that route to
// it, so a version keeps its counters while weights change around it.
type versionStats struct {
	inFlight atomic.Int64
	// classes counts responses by status/100; index 0 holds anything outside 100..599.
	classes  [6]atomic.Uint64
	latency  [rollout.LatencyBuckets]atomic.Uint64
	sumNanos atomic.Uint64
	fine     ring
	coarse   ring
}

func newVersionStats() *versionStats {
	s := &versionStats{}
	s.fine.init(fineWidth, fineSlots)
	s.coarse.init(coarseWidth, coarseSlots)
	return s
}

// record adds one response that ended at offset at (since the router started).
func (s *versionStats) record(at time.Duration, status int, d time.Duration) {
	class := status / 100
	if class < 1 || class > 5 {
		class = 0
	}
	s.classes[class].Add(1)
	bucket := rollout.LatencyBucket(d)
	s.latency[bucket].Add(1)
	s.sumNanos.Add(uint64(max(d, 0)))
	isError := class == 5
	s.fine.add(at, isError, bucket, d)
	s.coarse.add(at, isError, bucket, d)
}

// window sums the last d ending at offset at, from the ring whose buckets fit d best.
func (s *versionStats) window(at, d time.Duration) rollout.Window {
	d = min(max(d, fineWidth), MaxWindow)
	if d <= (fineSlots-1)*fineWidth {
		return s.fine.window(at, d)
	}
	return s.coarse.window(at, d)
}

// ring is a circular array of time buckets. Adds are lock-free; only the add that first lands
// in a stale slot takes the lock to clear it, once per bucket width.
type ring struct {
	width int64
	mu    sync.Mutex
	slots []slot
}

type slot struct {
	epoch    atomic.Int64 // bucket number + 1 of what the slot holds; 0 is never used
	requests atomic.Int64
	errors   atomic.Int64
	maxNanos atomic.Int64
	latency  [rollout.LatencyBuckets]atomic.Int64
}

func (r *ring) init(width time.Duration, n int) {
	r.width = int64(width)
	r.slots = make([]slot, n)
}

func (r *ring) add(at time.Duration, isError bool, bucket int, d time.Duration) {
	n := max(int64(at), 0) / r.width
	s := &r.slots[n%int64(len(r.slots))]
	if s.epoch.Load() != n+1 {
		r.mu.Lock()
		switch e := s.epoch.Load(); {
		case e > n+1:
			// The slot moved on while this response was in flight a whole ring ago: the
			// response is older than any window can reach.
			r.mu.Unlock()
			return
		case e < n+1:
			s.requests.Store(0)
			s.errors.Store(0)
			s.maxNanos.Store(0)
			for i := range s.latency {
				s.latency[i].Store(0)
			}
			s.epoch.Store(n + 1)
		}
		r.mu.Unlock()
	}
	s.requests.Add(1)
	if isError {
		s.errors.Add(1)
	}
	s.latency[bucket].Add(1)
	for nanos := int64(d); ; {
		old := s.maxNanos.Load()
		if nanos <= old || s.maxNanos.CompareAndSwap(old, nanos) {
			break
		}
	}
}

func (r *ring) window(at, d time.Duration) rollout.Window {
	w := rollout.Window{Span: d}
	now := max(int64(at), 0) / r.width
	k := min((int64(d)+r.width-1)/r.width, int64(len(r.slots)-1))
	for n := now; n > now-k && n >= 0; n-- {
		s := &r.slots[n%int64(len(r.slots))]
		if s.epoch.Load() != n+1 {
			continue
		}
		w.Requests += s.requests.Load()
		w.Errors += s.errors.Load()
		for i := range w.Latency {
			w.Latency[i] += s.latency[i].Load()
		}
		w.MaxLatency = max(w.MaxLatency, time.Duration(s.maxNanos.Load()))
	}
	return w
}
