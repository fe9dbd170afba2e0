package sluice

import (
	"errors"
	"fmt"
)

// Error codes. Each maps to one exit code in cli and one HTTP status in http.
const (
	EINVALID      = "invalid"      // the input is wrong; the message says how to fix it
	ENOTFOUND     = "not_found"    // the thing named does not exist
	ECONFLICT     = "conflict"     // the state does not allow it now
	EUNAUTHORIZED = "unauthorized" // the caller may not do it
	ECORRUPT      = "corrupt"      // data at rest failed verification; never used
	EINTERNAL     = "internal"     // a bug or an environment failure
	ETIMEOUT      = "timeout"      // something took longer than it was allowed
)

// Error is an error with a code and a sentence for the user.
// Terminal errors are final: retrying cannot make them succeed.
type Error struct {
	Code     string
	Message  string
	Terminal bool
	Err      error // the cause, if any
}

func (e *Error) Error() string {
	// Errorf puts the cause's text into Message already, so Message alone is the sentence.
	switch {
	case e.Message != "":
		return e.Message
	case e.Err != nil:
		return e.Err.Error()
	}
	return e.Code
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns a terminal *Error with code and a formatted message. %w wraps as usual.
func Errorf(code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Terminal: code != EINTERNAL && code != ETIMEOUT, Err: errors.Unwrap(err)}
}

// ErrorCode returns the code of the first *Error in err's chain, EINTERNAL for any other
// non-nil error, and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EINTERNAL
}

// IsTerminal reports whether err is final: a retry cannot succeed.
func IsTerminal(err error) bool {
	var e *Error
	return errors.As(err, &e) && e.Terminal
}
