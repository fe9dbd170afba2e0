package storetest

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
)

func TestDifference(t *testing.T) {
	utc := t0.UTC()
	cases := []struct {
		name      string
		got, want any
		differ    string // a part of the difference; "" when the values are the same
	}{
		{"same instant in another zone", utc, t0, ""},
		{"nanosecond apart", utc.Add(time.Nanosecond), t0, "got 2025"},
		{"nil and empty map", map[string]string{}, map[string]string(nil), ""},
		{"nil and empty slice", []string(nil), []string{}, ""},
		{"map value", map[string]string{"a": "1"}, map[string]string{"a": "2"}, "[a]"},
		{"missing key", map[string]string{"b": "1"}, map[string]string{"a": "1"}, "key a missing"},
		{"slice length", []int{1}, []int{1, 2}, "1 elements, want 2"},
		{"equal JSON written differently", json.RawMessage(`{"a": 1, "b":[true]}`), json.RawMessage(`{"b":[true],"a":1}`), ""},
		{"different JSON", json.RawMessage(`{"a": 1}`), json.RawMessage(`{"a": 2}`), "got JSON"},
		{"nested field", sluice.Deployment{Rollback: &sluice.Rollback{Cause: "alarm"}}, sluice.Deployment{Rollback: &sluice.Rollback{Cause: "hook"}}, ".Rollback.Cause"},
		{"nil pointer", sluice.EnvironmentState{}, sluice.EnvironmentState{Live: &sluice.Version{}}, ".Live: got nil"},
		{"nested time", sluice.Rollback{BreachedAt: utc}, sluice.Rollback{BreachedAt: t0.Add(time.Second)}, ".BreachedAt"},
		{"strategy interval", sluice.Strategy{Interval: time.Second}, sluice.Strategy{Interval: time.Minute}, ".Interval"},
		{"type", 1, "1", "got a int, want a string"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			d := difference(c.got, c.want)
			switch {
			case c.differ == "" && d != "":
				t.Errorf("difference = %q, want none", d)
			case c.differ != "" && !strings.Contains(d, c.differ):
				t.Errorf("difference = %q, want one containing %q", d, c.differ)
			}
		})
	}
}
