package sqlite

import (
	"database/sql"
	"encoding/json"
	"fmt"
	"time"

	"github.com/sluicehq/sluice"
)

// timeLayout is fixed width, so times compare as text in the order they happened, and keeps
// every nanosecond.
const timeLayout = "2006-01-02T15:04:05.000000000Z"

// timeArg writes t as UTC text; the zero time is NULL.
func timeArg(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.UTC().Format(timeLayout)
}

// parseTime reads a column written by timeArg. Times come back in UTC.
func parseTime(s sql.NullString) (time.Time, error) {
	if !s.Valid || s.String == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s.String)
	if err != nil {
		return time.Time{}, fmt.Errorf("read time %q: %w", s.String, err)
	}
	return t.UTC(), nil
}

// jsonArg writes v as JSON text; a nil map, slice or pointer is NULL, so it reads back as nil.
func jsonArg(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %T: %w", v, err)
	}
	if string(b) == "null" {
		return nil, nil
	}
	return string(b), nil
}

// parseJSON reads a column written by jsonArg into v; NULL leaves v as it is.
func parseJSON(s sql.NullString, v any) error {
	if !s.Valid {
		return nil
	}
	if err := json.Unmarshal([]byte(s.String), v); err != nil {
		return fmt.Errorf("read %T: %w", v, err)
	}
	return nil
}

// jsonStrategy reads a sluice.Strategy. Strategy writes its interval as a duration string
// ("1m0s") but has no reader for it, so decoding it with encoding/json alone fails.
type jsonStrategy sluice.Strategy

// UnmarshalJSON reads the interval as a duration string, or as a number of nanoseconds (what
// encoding/json writes for a time.Duration), so either way of writing it reads back.
func (s *jsonStrategy) UnmarshalJSON(b []byte) error {
	type plain sluice.Strategy
	var aux struct {
		plain
		Interval json.RawMessage `json:"interval,omitempty"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	interval, err := parseDuration(aux.Interval)
	if err != nil {
		return fmt.Errorf("strategy interval: %w", err)
	}
	*s = jsonStrategy(aux.plain)
	s.Interval = interval
	return nil
}

func parseDuration(b json.RawMessage) (time.Duration, error) {
	if len(b) == 0 || string(b) == "null" {
		return 0, nil
	}
	var d sluice.Duration
	if b[0] == '"' {
		err := json.Unmarshal(b, &d)
		return time.Duration(d), err
	}
	var n int64
	err := json.Unmarshal(b, &n)
	return time.Duration(n), err
}

// jsonVersion reads a sluice.Version, whose Strategy needs jsonStrategy.
type jsonVersion sluice.Version

// UnmarshalJSON reads every field of Version the standard way except its strategy.
func (v *jsonVersion) UnmarshalJSON(b []byte) error {
	type plain sluice.Version
	var aux struct {
		plain
		Strategy jsonStrategy `json:"strategy"`
	}
	if err := json.Unmarshal(b, &aux); err != nil {
		return err
	}
	*v = jsonVersion(aux.plain)
	v.Strategy = sluice.Strategy(aux.Strategy)
	return nil
}

// parseVersion reads a nullable Version column.
func parseVersion(s sql.NullString) (*sluice.Version, error) {
	if !s.Valid {
		return nil, nil
	}
	var v jsonVersion
	if err := parseJSON(s, &v); err != nil {
		return nil, err
	}
	out := sluice.Version(v)
	return &out, nil
}

// parseStrategy reads a Strategy column.
func parseStrategy(s sql.NullString) (sluice.Strategy, error) {
	var v jsonStrategy
	err := parseJSON(s, &v)
	return sluice.Strategy(v), err
}
