package sqlite

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

// TestDiskFullIsENOSPC: a write that fails because the database cannot grow says so, and
// matches syscall.ENOSPC, so the engine waits for space rather than dropping the change. The
// page limit stands in for a full disk: SQLite answers both with SQLITE_FULL.
func TestDiskFullIsENOSPC(t *testing.T) {
	db, err := Open(filepath.Join(t.TempDir(), "state.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx := context.Background()
	var pages int
	if err := db.write.QueryRowContext(ctx, "PRAGMA page_count").Scan(&pages); err != nil {
		t.Fatal(err)
	}
	if _, err := db.write.ExecContext(ctx, "PRAGMA max_page_count = "+strconv.Itoa(pages+2)); err != nil {
		t.Fatal(err)
	}
	big := strings.Repeat("x", 64<<10)
	var full error
	for i := 0; i < 50 && full == nil; i++ {
		ev := sluice.Event{SpecVersion: "1.0", ID: "e" + strconv.Itoa(i), Source: "test", Type: "sluice.test", Subject: big, Time: time.Now().UTC()}
		full = db.AppendEvents(ctx, ev)
	}
	if full == nil {
		t.Fatal("the database grew past its page limit")
	}
	if !errors.Is(full, syscall.ENOSPC) || !strings.Contains(full.Error(), "ENOSPC") {
		t.Fatalf("a full database gives %v; want an error that is syscall.ENOSPC and says so", full)
	}
	if _, err := db.write.ExecContext(ctx, "PRAGMA max_page_count = 1000000"); err != nil {
		t.Fatal(err)
	}
	if err := db.AppendEvents(ctx, sluice.Event{SpecVersion: "1.0", ID: "after", Source: "test", Type: "sluice.test", Subject: big, Time: time.Now().UTC()}); err != nil {
		t.Fatalf("once there is room again, writes work: %v", err)
	}
}
