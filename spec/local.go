package spec

import "time"

// LocalTarget is the configuration of the local target, the one kind the spec knows itself:
//
//	target:
//	  local: {client_timeout: 60s, upstream_timeout: 5m}
//
// `target: local` and no target at all are the zero LocalTarget.
type LocalTarget struct {
	// ClientTimeout bounds each wait on a client once its request has begun: for the rest of its
	// request body, and for it to take each part of the response. If zero, the router's default
	// (60s) is used.
	ClientTimeout time.Duration
	// UpstreamTimeout bounds each wait on a version: for the head of its response, then for each
	// part of its body. A version that does not answer in time gets the client a 504. If zero,
	// the router's default (60s) is used.
	UpstreamTimeout time.Duration
}

// maxRouterTimeout is the longest time limit the local router accepts: longer waits are better
// served by a streaming protocol than by holding a connection open.
const maxRouterTimeout = 24 * time.Hour

var localKind = TargetKind{
	Name: TargetLocal,
	Keys: []string{"client_timeout", "upstream_timeout"},
	Decode: func(b *TargetBlock) any {
		var t LocalTarget
		for _, limit := range []struct {
			key string
			to  *time.Duration
		}{{"client_timeout", &t.ClientTimeout}, {"upstream_timeout", &t.UpstreamTimeout}} {
			d, ok := b.Duration(limit.key) // reports what is not a positive duration
			switch {
			case !ok:
			case d > maxRouterTimeout:
				b.Errorf(limit.key, "%s is longer than 24h; a request that takes longer needs a streaming protocol, not a longer time limit", d)
			default:
				*limit.to = d
			}
		}
		return &t
	},
}
