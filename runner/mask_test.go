package runner_test

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/runner"
)

// recorder keeps each Write separately, to check what reaches the writer when.
type recorder struct{ writes []string }

func (r *recorder) Write(p []byte) (int, error) {
	r.writes = append(r.writes, string(p))
	return len(p), nil
}

func (r *recorder) String() string { return strings.Join(r.writes, "") }

// bytesOf splits s into one-byte writes.
func bytesOf(s string) []string {
	var out []string
	for i := range len(s) {
		out = append(out, s[i:i+1])
	}
	return out
}

func TestMaskWriter(t *testing.T) {
	long := strings.Repeat("x", 20<<10)
	tests := []struct {
		name    string
		secrets []string
		writes  []string
		want    string
	}{
		{name: "no secrets", writes: []string{"a\n", "b"}, want: "a\nb"},
		{name: "one write", secrets: []string{"hunter2"}, writes: []string{"pass=hunter2\n"}, want: "pass=***\n"},
		{name: "every occurrence", secrets: []string{"hunter2"}, writes: []string{"hunter2 hunter2hunter2\n"}, want: "*** ******\n"},
		{name: "split in two", secrets: []string{"hunter2"}, writes: []string{"pass=hun", "ter2\n"}, want: "pass=***\n"},
		{name: "split around a newline write", secrets: []string{"hunter2"}, writes: []string{"a\npass=hun", "ter2\n"}, want: "a\npass=***\n"},
		{name: "one byte at a time", secrets: []string{"hunter2"}, writes: bytesOf("x hunter2 y\nhunter2"), want: "x *** y\n***"},
		{name: "secret at the end without newline", secrets: []string{"hunter2"}, writes: []string{"pass=hunt", "er2"}, want: "pass=***"},
		{name: "prefix of a secret is not masked", secrets: []string{"hunter2"}, writes: []string{"hunt", "er\n", "hunt"}, want: "hunter\nhunt"},
		{name: "several secrets", secrets: []string{"alpha-1", "beta-22"}, writes: []string{"alpha-1 beta-", "22 gamma\n"}, want: "*** *** gamma\n"},
		{name: "longer of overlapping secrets wins", secrets: []string{"abcd", "abcdefgh"}, writes: []string{"abcd", "efgh abcd\n"}, want: "*** ***\n"},
		{name: "longer secret given first", secrets: []string{"abcdefgh", "abcd"}, writes: []string{"xabcdefghabcdy\n"}, want: "x******y\n"},
		{name: "short and empty values ignored", secrets: []string{"", "abc", "1"}, writes: []string{"abc 1\n"}, want: "abc 1\n"},
		{name: "duplicates", secrets: []string{"hunter2", "hunter2"}, writes: []string{"hunter2\n"}, want: "***\n"},
		{name: "secret with a newline", secrets: []string{"line1\nline2"}, writes: []string{"key: line1\n", "line2\nrest\n"}, want: "key: ***\nrest\n"},
		{name: "long line straddling the bound", secrets: []string{"hunter2"}, writes: []string{long[:len(long)-3] + "hun", "ter2\n"}, want: long[:len(long)-3] + "***\n"},
		{name: "no newline at all", secrets: []string{"hunter2"}, writes: []string{long, "hunter2", long}, want: long + "***" + long},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var rec recorder
			m := runner.NewMaskWriter(&rec, tt.secrets)
			for _, w := range tt.writes {
				if n, err := m.Write([]byte(w)); n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v, want %d, nil", w, n, err, len(w))
				}
			}
			if err := m.Close(); err != nil {
				t.Fatal(err)
			}
			if got := rec.String(); got != tt.want {
				t.Errorf("output = %.80q, want %.80q", got, tt.want)
			}
			for _, s := range tt.secrets {
				if len(s) >= 4 && strings.Contains(rec.String(), s) {
					t.Errorf("output contains secret %q", s)
				}
			}
		})
	}
}

func TestMaskWriterHoldsPartialLines(t *testing.T) {
	var rec recorder
	m := runner.NewMaskWriter(&rec, nil)
	for _, w := range []string{"par", "tial", " line\nnext"} {
		if _, err := m.Write([]byte(w)); err != nil {
			t.Fatal(err)
		}
	}
	if want := []string{"partial line\n"}; !slices.Equal(rec.writes, want) {
		t.Fatalf("before Close, writes = %q, want %q", rec.writes, want)
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if want := []string{"partial line\n", "next"}; !slices.Equal(rec.writes, want) {
		t.Errorf("after Close, writes = %q, want %q", rec.writes, want)
	}
}

// failing fails every Write.
type failing struct{ calls int }

func (f *failing) Write([]byte) (int, error) {
	f.calls++
	return 0, errors.New("disk full")
}

func TestMaskWriterKeepsFirstError(t *testing.T) {
	var f failing
	m := runner.NewMaskWriter(&f, nil)
	for range 3 {
		if n, err := m.Write([]byte("line\n")); n != 5 || err != nil {
			t.Fatalf("Write = %d, %v, want 5, nil", n, err)
		}
	}
	if err := m.Close(); err == nil || err.Error() != "disk full" {
		t.Errorf("Close = %v, want disk full", err)
	}
	if f.calls != 1 {
		t.Errorf("underlying writer called %d times, want 1: output after an error is dropped", f.calls)
	}
}

func BenchmarkMaskWriter(b *testing.B) {
	line := []byte("2024-05-01T12:00:00Z ok   github.com/example/app/internal/thing 0.123s token=hunter2-value\n")
	m := runner.NewMaskWriter(io.Discard, []string{"hunter2-value", "another-secret", "AKIAEXAMPLEKEY"})
	b.SetBytes(int64(len(line)))
	for b.Loop() {
		_, _ = m.Write(line)
	}
}
