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

// parseVersion reads a nullable Version column.
func parseVersion(s sql.NullString) (*sluice.Version, error) {
	if !s.Valid {
		return nil, nil
	}
	var v sluice.Version
	if err := parseJSON(s, &v); err != nil {
		return nil, err
	}
	return &v, nil
}
