package logtail

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLast(t *testing.T) {
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	long := strings.Repeat("x", Window) + "\nnext to last\nlast\n"
	for _, c := range []struct {
		name, path string
		n          int
		want       string
	}{
		{"missing file", filepath.Join(dir, "missing"), 3, ""},
		{"empty file", write("empty", ""), 3, ""},
		{"fewer lines than asked", write("short", "one\ntwo\n"), 3, "> one\n> two"},
		{"the last n", write("many", "1\n2\n3\n4\n5\n"), 2, "> 4\n> 5"},
		{"no final newline", write("open", "a\nb"), 5, "> a\n> b"},
		{"a partial first line in the window is dropped", write("long", long), 5, "> next to last\n> last"},
		{"a directory", dir, 3, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := Last(c.path, c.n, "> "); got != c.want {
				t.Errorf("Last = %q, want %q", got, c.want)
			}
		})
	}
}
