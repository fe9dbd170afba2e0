package local

// SetFreePort has p find version ports with fn, so a test can hand out a port that is taken.
func SetFreePort(p *Provider, fn func() (int, error)) { p.freePort = fn }
