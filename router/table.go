package router

import (
	"math"
	"net/url"
	"sync/atomic"
)

// table is one immutable split of traffic. SetRoutes builds a new one and publishes it with a
// single atomic store, so a request sees either the old split or the new one, never a mix.
type table struct {
	routes []*backend // every version in the split, including weight 0 ones, in SetRoutes order
	live   []*backend // the versions with weight > 0
	cum    []int      // cumulative weights of live
	total  int        // sum of live weights; 0 means nothing is live
	stride uint64     // coprime with total: permutes the counter so versions interleave
	next   atomic.Uint64
}

// backend is one version in one table. Its stats and transport outlive the table: SetRoutes
// hands them from the old table to the new one when the version stays.
type backend struct {
	id     string
	url    *url.URL
	weight int
	stats  *versionStats
	proxy  *proxyTransport
}

func newTable(routes []*backend) *table {
	t := &table{routes: routes}
	for _, b := range routes {
		if b.weight > 0 {
			t.live = append(t.live, b)
			t.total += b.weight
			t.cum = append(t.cum, t.total)
		}
	}
	t.stride = coprimeStride(t.total)
	return t
}

// coprimeStride returns the integer nearest total/φ that shares no factor with total. Stepping
// through 0..total-1 by it visits every slot once per cycle, and spreads a small version's slots
// across the cycle instead of bunching them at its start.
func coprimeStride(total int) uint64 {
	if total <= 1 {
		return 1
	}
	k := max(int(math.Round(float64(total)/math.Phi)), 1)
	for gcd(k, total) != 1 {
		k++
	}
	return uint64(k)
}

func gcd(a, b int) int {
	for b != 0 {
		a, b = b, a%b
	}
	return a
}

// pick returns the next live version by weight; nil when nothing is live.
func (t *table) pick() *backend {
	if t.total == 0 {
		return nil
	}
	n := t.next.Add(1) - 1
	slot := int((n % uint64(t.total)) * t.stride % uint64(t.total))
	for i, c := range t.cum {
		if slot < c {
			return t.live[i]
		}
	}
	return t.live[len(t.live)-1]
}

// pickOther returns a live version other than not, by weight among the others; nil if none.
func (t *table) pickOther(not *backend) *backend {
	if t.total == 0 {
		return nil
	}
	for range len(t.live) + 1 {
		if b := t.pick(); b.id != not.id {
			return b
		}
	}
	for _, b := range t.live {
		if b.id != not.id {
			return b
		}
	}
	return nil
}

// choose picks the version for a request: the one named by the X-Sluice-Version header if it is
// routed, else (when sticky) the one in the client's cookie if it is routed, else one by weight.
// setCookie reports that the client should be told, in the sticky cookie, the version that
// answers. An empty header or cookie is absent.
func (t *table) choose(header, cookie string, sticky bool) (b *backend, setCookie bool) {
	if header != "" {
		if b = t.routed(header); b != nil {
			return b, false
		}
	}
	if sticky && cookie != "" {
		if b = t.routed(cookie); b != nil {
			return b, false
		}
	}
	b = t.pick()
	return b, sticky && b != nil
}

// routed returns the version with id if its weight is above 0.
func (t *table) routed(id string) *backend {
	for _, b := range t.live {
		if b.id == id {
			return b
		}
	}
	return nil
}

// find returns the version with id whatever its weight.
func (t *table) find(id string) *backend {
	for _, b := range t.routes {
		if b.id == id {
			return b
		}
	}
	return nil
}
