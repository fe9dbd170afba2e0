//go:build !linux

package runner

// Elsewhere there is no subreaper and no /proc to find escaped descendants: only the process
// group is stopped.

func becomeSubreaper()            {}
func killTagged(string, bool) int { return 0 }
func reapOrphans()                {}
func startTime(int) uint64        { return 0 }
