package deploy

import (
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"sync"
)

// Host is what the process running the engine gives each provider it opens.
type Host struct {
	// StateDir is the state directory (.sluice). A provider keeps its files in a folder of its
	// own inside it.
	StateDir string
	// Artifacts gives verified artifacts' files.
	Artifacts Unpacker
	// Log receives the provider's own log lines. If nil, nothing is logged.
	Log *slog.Logger
}

// Unpacker gives a verified artifact's files.
type Unpacker interface {
	// Unpack verifies the artifact and extracts it into dest; ECORRUPT when verification fails.
	Unpack(digest, dest string) error
}

// Opener opens a provider for one engine. The provider it returns is the engine's until Close.
type Opener func(Host) (Provider, error)

var registry = struct {
	sync.Mutex
	openers map[string]Opener
}{openers: map[string]Opener{}}

// Register makes a provider available under its target name (the name an environment's
// target: says), for Open. It is called in cmd wiring, beside spec.RegisterTarget, so that
// neither the engine nor the command line names a provider. It panics when the name is empty
// or taken, or open is nil: registration happens once, at start, and a clash is a bug in the
// wiring. Safe to call concurrently.
func Register(target string, open Opener) {
	registry.Lock()
	defer registry.Unlock()
	if target == "" || open == nil {
		panic("deploy: Register needs a target name and an opener")
	}
	if _, dup := registry.openers[target]; dup {
		panic(fmt.Sprintf("deploy: provider for target %q registered twice", target))
	}
	registry.openers[target] = open
}

// Registered returns the target names of the registered providers, sorted.
func Registered() []string {
	registry.Lock()
	defer registry.Unlock()
	names := make([]string, 0, len(registry.openers))
	for name := range registry.openers {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Open opens every registered provider for h, by target name. When one fails, those already
// opened are closed and the error names the target.
func Open(h Host) (map[string]Provider, error) {
	if h.Log == nil {
		h.Log = slog.New(slog.DiscardHandler)
	}
	out := map[string]Provider{}
	for _, name := range Registered() {
		registry.Lock()
		open := registry.openers[name]
		registry.Unlock()
		p, err := open(h)
		if err != nil {
			errs := []error{fmt.Errorf("open the %s provider: %w", name, err)}
			for _, q := range out {
				errs = append(errs, q.Close())
			}
			return nil, errors.Join(errs...)
		}
		out[name] = p
	}
	return out, nil
}
