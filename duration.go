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

// UnmarshalJSON reads what MarshalJSON writes; a number of nanoseconds is accepted too.
func (s *Strategy) UnmarshalJSON(b []byte) error {
	type plain Strategy
	var v struct {
		plain
		Interval json.RawMessage `json:"interval,omitempty"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d, err := readDuration(v.Interval)
	if err != nil {
		return fmt.Errorf("strategy interval: %w", err)
	}
	*s = Strategy(v.plain)
	s.Interval = d
	return nil
}

// UnmarshalJSON reads what MarshalJSON writes; a number of nanoseconds is accepted too.
func (a *Alarm) UnmarshalJSON(b []byte) error {
	type plain Alarm
	var v struct {
		plain
		Window json.RawMessage `json:"window"`
	}
	if err := json.Unmarshal(b, &v); err != nil {
		return err
	}
	d, err := readDuration(v.Window)
	if err != nil {
		return fmt.Errorf("alarm window: %w", err)
	}
	*a = Alarm(v.plain)
	a.Window = d
	return nil
}

func readDuration(raw json.RawMessage) (time.Duration, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, nil
	}
	if raw[0] != '"' {
		var n int64
		err := json.Unmarshal(raw, &n)
		return time.Duration(n), err
	}
	var d Duration
	err := d.UnmarshalJSON(raw)
	return time.Duration(d), err
}
