package runner

import (
	"testing"
	"time"
)

func TestShortDuration(t *testing.T) {
	tests := []struct {
		name string
		in   time.Duration
		want string
	}{
		{name: "minutes", in: 10 * time.Minute, want: "10m"},
		{name: "hours", in: time.Hour, want: "1h"},
		{name: "hours and minutes", in: 90 * time.Minute, want: "1h30m"},
		{name: "minutes and seconds", in: 90 * time.Second, want: "1m30s"},
		{name: "seconds", in: 2 * time.Second, want: "2s"},
		{name: "fractions", in: 1500 * time.Millisecond, want: "1.5s"},
		{name: "milliseconds", in: 300 * time.Millisecond, want: "300ms"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := shortDuration(tt.in); got != tt.want {
				t.Errorf("shortDuration(%v) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}
