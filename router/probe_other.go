//go:build !unix

package router

import "net"

// newProbe is unsupported here: pooled connections are then checked only for bytes already
// buffered when their response ended.
func newProbe(net.Conn) func() probeResult { return nil }
