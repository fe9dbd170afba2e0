package storetest

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func testBuilds(t *testing.T, open opener) {
	t.Run("round trip and replace", func(t *testing.T) {
		s := open(t)
		b := &sluice.Build{Pipeline: mainPipeline, Revision: "4f2a9c0e", Digest: "sha256:aaaa", Size: 1 << 40, CreatedAt: t0}
		must(t, "save", s.SaveBuild(t.Context(), b, newEvent("sluice.build.succeeded", "4f2a9c0e", 1)))
		got, err := s.Build(t.Context(), mainPipeline, "4f2a9c0e")
		must(t, "read", err)
		check(t, "build", got, b)

		again := &sluice.Build{Pipeline: mainPipeline, Revision: "4f2a9c0e", Digest: "sha256:bbbb", Size: 7, CreatedAt: at(time.Hour)}
		must(t, "save again", s.SaveBuild(t.Context(), again))
		got, err = s.Build(t.Context(), mainPipeline, "4f2a9c0e")
		must(t, "read again", err)
		check(t, "replaced build", got, again)
		checkEvents(t, s, 0, newEvent("sluice.build.succeeded", "4f2a9c0e", 1))
	})

	t.Run("missing is not found", func(t *testing.T) {
		s := open(t)
		must(t, "save", s.SaveBuild(t.Context(), &sluice.Build{Pipeline: mainPipeline, Revision: "a", Digest: "sha256:aaaa"}))
		_, err := s.Build(t.Context(), mainPipeline, "b")
		wantCode(t, "Build", err, sluice.ENOTFOUND)
	})
}

func testChangeSets(t *testing.T, open opener) {
	cases := []struct {
		name string
		cs   sluice.ChangeSet
	}{
		{"first deployment", sluice.ChangeSet{
			Digest: "sha256:1111", Environment: "dev", To: *newVersion(1),
			Strategy: sluice.Strategy{Type: sluice.Canary, Percent: 25, Interval: 1500 * time.Millisecond},
			Changes:  []sluice.Change{{Field: "artifact", To: "sha256:0001", Replaces: true}},
		}},
		{"from a live version", sluice.ChangeSet{
			Digest: "sha256:2222", Environment: "prod", From: newVersion(1), To: *newVersion(2),
			Strategy: sluice.PredefinedStrategies["Canary10Percent5Minutes"],
			Changes: []sluice.Change{
				{Field: "artifact", From: "sha256:0001", To: "sha256:0002", Replaces: true},
				{Field: "env.N", From: "1", To: "2", Replaces: true},
				{Field: "strategy", From: "AllAtOnce", To: "Canary10Percent5Minutes"},
			},
		}},
		{"with the provider's detail", sluice.ChangeSet{
			Digest: "sha256:4444", Environment: "prod", From: newVersion(1), To: *newVersion(2),
			Changes: []sluice.Change{{Field: "ApiFunction", From: "v1", To: "v2"}},
			Detail:  json.RawMessage(`{"stack":"api-prod","change_set":"sluice-4444"}`),
		}},
		{"empty", sluice.ChangeSet{Digest: "sha256:3333", Environment: "prod", From: newVersion(3), To: *newVersion(3)}},
	}
	for _, c := range cases {
		t.Run("round trip "+c.name, func(t *testing.T) {
			s := open(t)
			cs := c.cs
			must(t, "save", s.SaveChangeSet(t.Context(), &cs, newEvent("sluice.change_set.created", cs.Environment, 1)))
			got, err := s.ChangeSet(t.Context(), cs.Digest)
			must(t, "read", err)
			check(t, "change set", got, &c.cs)
			checkEvents(t, s, 0, newEvent("sluice.change_set.created", cs.Environment, 1))
		})
	}

	t.Run("idempotent by digest", func(t *testing.T) {
		s := open(t)
		cs := cases[1].cs
		must(t, "save", s.SaveChangeSet(t.Context(), &cs))
		must(t, "save again", s.SaveChangeSet(t.Context(), &cs))
		got, err := s.ChangeSet(t.Context(), cs.Digest)
		must(t, "read", err)
		check(t, "change set", got, &cases[1].cs)
	})

	t.Run("missing is not found", func(t *testing.T) {
		s := open(t)
		_, err := s.ChangeSet(t.Context(), "sha256:nope")
		wantCode(t, "ChangeSet", err, sluice.ENOTFOUND)
	})
}
