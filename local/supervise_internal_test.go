package local

import (
	"testing"
	"time"
)

func TestRestartDelay(t *testing.T) {
	base := 500 * time.Millisecond
	for _, tt := range []struct {
		crashes int
		want    time.Duration
	}{
		{0, 500 * time.Millisecond},
		{1, time.Second},
		{2, 2 * time.Second},
		{5, 16 * time.Second},
		{6, 30 * time.Second}, // capped
		{1000, 30 * time.Second},
	} {
		if got := restartDelay(base, tt.crashes); got != tt.want {
			t.Errorf("restartDelay(%s, %d) = %s, want %s", base, tt.crashes, got, tt.want)
		}
	}
}
