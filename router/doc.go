// Package router is the weighted reverse proxy in front of the versions of one local
// environment, with per-version metrics for the alarms that decide a rollback.
//
// The map:
//
//	Router.SetRoutes   atomically replaces the split: versions (an ID and a loopback URL) with
//	                   integer weights; requests already running finish where they started
//	Router.ServeHTTP   picks a version by weight (or by X-Sluice-Version, or by the sticky
//	                   cookie), proxies to it, and records the response in that version's metrics
//	Router.ServeFast   the same on a listener of its own, forwarding plain HTTP/1.1 over pooled
//	                   connections without net/http (about twice the throughput): fast.go
//	                   accepts and reads heads, proxy.go forwards one request, pool.go keeps
//	                   the connections to versions; internal/http1 parses and frames. Every
//	                   head is judged there first; valid requests it does not forward itself
//	                   (Upgrade, Expect, HTTP/1.0, absolute-form targets) then go to ServeHTTP
//	                   for that one request
//	Router.SetSticky   turns the sticky cookie on or off while serving
//	Router.HandlerFor  reaches one version only, whatever its weight: the pre_traffic hook's door
//	Router.Drain       waits until a version removed from the routes has no request in flight
//	Router.Window      the version's requests, 5xx and latency over the last d: an alarm's input
//	Router.WriteMetrics everything in Prometheus text format; WriteMetrics, the routers of
//	                   several environments as one exposition
//
// Picking is a weighted round-robin over a permuted counter: every run of total-weight
// consecutive requests hits each version exactly its weight's number of times, interleaved, with
// one atomic add and no lock per request.
//
// The zero-downtime sequence when a version goes away is SetRoutes without it, Drain, then stop
// its process. A request that picked the version just before it was removed and finds its port
// closed is retried once on another routed version, as long as nothing was sent yet (a dial
// error); any other failure is a 502 counted against the version that failed.
//
// What the router refuses, its limits (64 KB heads, 128 header lines, Options.MaxConns) and
// its time limits (Options.ClientTimeout, Options.UpstreamTimeout) are in docs/router.md.
//
// Local environments serve the router with ServeFast. It is also an http.Handler, to serve with
// an http.Server of the caller's, for example:
//
//	rt := router.New(router.Options{Sticky: true})
//	srv := &http.Server{Handler: rt, ReadHeaderTimeout: 10 * time.Second}
//	go srv.Serve(ln)
//	defer rt.Close() // closes the idle connections to the versions
package router
