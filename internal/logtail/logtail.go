// Package logtail reads the last lines of a log file, for the failure messages that show what a
// build, a check or a service printed just before it failed.
package logtail

import (
	"bytes"
	"io"
	"os"
	"strings"
)

// Window is how much of the end of a file is read: enough for a screenful of long lines, and
// bounded however large the log grew. A reader that fetches the end of a log some other way
// (over the API) asks for as much, and hands it to Lines.
const Window = 16 << 10

// Last returns the last n lines of the file at path, each prefixed with indent, without the final
// newline. It returns "" when the file is missing, empty or unreadable: the tail is a courtesy,
// never the reason a message cannot be shown. If n <= 0, 10 lines are returned.
func Last(path string, n int, indent string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return ""
	}
	offset := max(st.Size()-Window, 0)
	b, err := io.ReadAll(io.NewSectionReader(f, offset, Window))
	if err != nil {
		return ""
	}
	if offset > 0 {
		// The window may begin mid-line: drop the partial first line.
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			b = b[i+1:]
		}
	}
	return Lines(string(b), n, indent)
}

// Lines returns the last n lines of text, each prefixed with indent, without the final newline;
// "" when text holds only blanks. If n <= 0, 10 lines are returned.
func Lines(text string, n int, indent string) string {
	if n <= 0 {
		n = 10
	}
	lines := strings.Split(strings.TrimRight(strings.ToValidUTF8(text, "\uFFFD"), "\n"), "\n")
	if len(lines) == 1 && strings.TrimSpace(lines[0]) == "" {
		return ""
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return indent + strings.Join(lines, "\n"+indent)
}
