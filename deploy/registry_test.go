package deploy_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
)

// stubProvider is a provider that only records whether it was closed.
type stubProvider struct {
	deploy.Provider // any other call panics: Open must make none
	host            deploy.Host
	closed          bool
}

func (p *stubProvider) Close() error { p.closed = true; return nil }

// The registry is the process's: these tests register once, whatever -count says.
var (
	registerOnce sync.Once
	opened       []*stubProvider
	fail         bool
)

func registerStubs() {
	registerOnce.Do(func() {
		open := func(h deploy.Host) (deploy.Provider, error) {
			p := &stubProvider{host: h}
			opened = append(opened, p)
			return p, nil
		}
		deploy.Register("registry-a", open)
		deploy.Register("registry-b", open)
		deploy.Register("registry-c", func(h deploy.Host) (deploy.Provider, error) {
			if fail {
				return nil, sluice.Errorf(sluice.EINVALID, "no credentials")
			}
			return open(h)
		})
		deploy.Register("registry-clash", func(deploy.Host) (deploy.Provider, error) { return &stubProvider{}, nil })
	})
}

func TestRegistryOpensEveryProviderByTargetName(t *testing.T) {
	registerStubs()
	fail, opened = false, nil
	if got := strings.Join(deploy.Registered(), ","); !strings.Contains(got, "registry-a,registry-b,registry-c") {
		t.Fatalf("Registered = %s, want the three, sorted", got)
	}
	providers, err := deploy.Open(deploy.Host{StateDir: "/state"})
	if err != nil {
		t.Fatal(err)
	}
	if len(opened) != 3 || providers["registry-b"] == nil || providers["registry-b"].(*stubProvider).host.StateDir != "/state" {
		t.Fatalf("Open = %v, want three providers given the host", providers)
	}

	// One that cannot open closes those opened before it, and says which failed.
	fail, opened = true, nil
	if _, err := deploy.Open(deploy.Host{}); err == nil || !strings.Contains(err.Error(), "open the registry-c provider: no credentials") || sluice.ErrorCode(err) != sluice.EINVALID {
		t.Fatalf("Open with a failing provider: %v", err)
	}
	if len(opened) != 2 || !opened[0].closed || !opened[1].closed {
		t.Errorf("providers opened before the failure were not all closed: %+v", opened)
	}
}

func TestRegisterRefusesAClash(t *testing.T) {
	registerStubs()
	open := func(deploy.Host) (deploy.Provider, error) { return &stubProvider{}, nil }
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `"registry-clash" registered twice`) {
			t.Errorf("second Register: recover() = %v, want a panic naming the clash", r)
		}
	}()
	deploy.Register("registry-clash", open)
}
