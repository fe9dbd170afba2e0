// Package logtail reads the last lines of a log file, for the failure messages that show what a
// build, a check or a service printed just before it failed.
package logtail

import (
	"bytes"
	"io"
	"os"
	"strings"
)

// window is how much of the end of a file is read: enough for a screenful of long lines, and
// bounded however large the log grew.
const window = 16 << 10

// Last returns the last n lines of the file at path, each prefixed with indent, without the final
// newline. It returns "" when the file is missing, empty or unreadable: the tail is a courtesy,
// never the reason a message cannot be shown. If n <= 0, 10 lines are returned.
func Last(path string, n int, indent string) string {
	if n <= 0 {
		n = 10
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return ""
	}
	offset := max(st.Size()-window, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, offset, window))
	if err != nil {
		return ""
	}
	if offset > 0 {
		// The window may begin mid-line: drop the partial first line.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	lines := strings.Split(strings.TrimRight(strings.ToValidUTF8(string(b), "\uFFFD"), "\n"), "\n")
	if len(lines) == 1 && strings.TrimSpace(lines[0]) == "" {
		return ""
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return indent + strings.Join(lines, "\n"+indent)
}
