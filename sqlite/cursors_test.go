package sqlite

import (
	"path/filepath"
	"testing"
)

// TestEventCursorOutlivesTheProcess saves a consumer's cursor, closes the database as a
// stopping process would, and reads the cursor back from a new connection to the same file.
func TestEventCursorOutlivesTheProcess(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.db")
	db, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveEventCursor(t.Context(), "notify/email", 42); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	again := open(t, path)
	got, err := again.EventCursor(t.Context(), "notify/email")
	if err != nil || got != 42 {
		t.Fatalf("cursor after reopening = %d, %v; want 42", got, err)
	}
}
