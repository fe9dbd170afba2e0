package sluice

import (
	"encoding/json"
	"fmt"
	"time"
)

// Duration is a time.Duration that reads and writes JSON as a Go duration string ("1m30s"),
// the same form people write in sluice.yaml. The zero value is written as "0s".
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(time.Duration(d).String()) }

// UnmarshalJSON reads a duration string.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration: expected a string such as \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("duration: %w", err)
	}
	*d = Duration(v)
	return nil
}

// MarshalJSON writes the interval as a duration string.
func (s Strategy) MarshalJSON() ([]byte, error) {
	type plain Strategy
	return json.Marshal(struct {
		plain
		Interval Duration `json:"interval,omitempty"`
	}{plain(s), Duration(s.Interval)})
}

// MarshalJSON writes the window as a duration string.
func (a Alarm) MarshalJSON() ([]byte, error) {
	type plain Alarm
	return json.Marshal(struct {
		plain
		Window Duration `json:"window"`
	}{plain(a), Duration(a.Window)})
}
