package cli

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/sqlite"
)

func TestResolveExecution(t *testing.T) {
	dir := t.TempDir()
	db, err := sqlite.Open(filepath.Join(dir, stateFile))
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"abc111111111", "abc222222222", "def333333333"} {
		ex := &sluice.Execution{ID: id, Pipeline: "hello-api@main", Revision: strings.Repeat("1", 40), Subject: "commit " + id[:4],
			Status: sluice.StatusFailed, CreatedAt: time.Now().UTC()}
		if err := db.CreateExecution(t.Context(), ex, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	db.Close()
	f := &flags{file: new(string), state: &dir, json: new(bool)}
	for _, c := range []struct {
		typed, id string
		code      string
		says      []string
	}{
		{typed: "abc111111111", id: "abc111111111"},
		{typed: "abc1", id: "abc111111111"},
		{typed: "d", id: "def333333333"},
		{typed: "ABC2", id: "abc222222222"},
		{typed: "abc", code: sluice.EINVALID, says: []string{`"abc" is ambiguous`, "abc111111111", "abc222222222", "type more"}},
		{typed: "0", code: sluice.ENOTFOUND, says: []string{`no execution "0"`}},
	} {
		id, err := resolveExecution(&env{ctx: t.Context()}, f, c.typed)
		if c.code == "" {
			if err != nil || id != c.id {
				t.Errorf("resolve %q = %q, %v; want %q", c.typed, id, err, c.id)
			}
			continue
		}
		if sluice.ErrorCode(err) != c.code {
			t.Errorf("resolve %q: error %v (code %q), want code %q", c.typed, err, sluice.ErrorCode(err), c.code)
			continue
		}
		for _, s := range c.says {
			if !strings.Contains(err.Error(), s) {
				t.Errorf("resolve %q: %q does not say %q", c.typed, err, s)
			}
		}
		if strings.Contains(err.Error(), "def333333333") {
			t.Errorf("resolve %q lists an execution it does not match: %v", c.typed, err)
		}
	}
}
