package parley

import (
	"errors"
	"fmt"
)

// Error codes. Every error that leaves a package boundary carries one of
// these, so that the HTTP layer can pick a status and the pipeline can decide
// whether a retry can help.
const (
	// EINVALID: the input is wrong (bad file, bad JSON, unknown field). The
	// same input will fail again; never retried.
	EINVALID = "invalid"
	// ENOTFOUND: the named thing does not exist.
	ENOTFOUND = "not_found"
	// ECONFLICT: the request clashes with the current state (a run is
	// already active, a duplicate).
	ECONFLICT = "conflict"
	// ETRANSIENT: a failure that a later attempt may not meet (network
	// errors, timeouts, 5xx from a provider, a database restart). Retried.
	ETRANSIENT = "transient"
	// EINTERNAL: a bug or an unexpected state. Details are logged, not shown.
	EINTERNAL = "internal"
	// EUNAUTHORIZED: missing or wrong credentials (ours, or a provider's
	// answer to our key). Never retried.
	EUNAUTHORIZED = "unauthorized"
)

// Error is Parley's error with a machine-readable Code and a Message that is
// safe to show to users. Err keeps the underlying cause for logs and
// errors.Is / errors.As; it is never shown to users.
type Error struct {
	Code    string
	Message string
	Err     error
}

// Error implements the error interface.
func (e *Error) Error() string {
	if e.Err != nil && e.Message == "" {
		return fmt.Sprintf("%s: %v", e.Code, e.Err)
	}
	if e.Err != nil {
		return fmt.Sprintf("%s: %v", e.Message, e.Err)
	}
	return e.Message
}

// Unwrap returns the cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the code and a formatted user-facing message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// WrapError returns an *Error with the code and message that keeps err as its
// cause. A nil err gives nil.
func WrapError(code string, err error, format string, args ...any) error {
	if err == nil {
		return nil
	}
	return &Error{Code: code, Message: fmt.Sprintf(format, args...), Err: err}
}

// ErrorCode returns the code of the outermost *Error in err's chain,
// EINTERNAL for any other non-nil error, and "" for nil.
func ErrorCode(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the user-facing message of the outermost *Error in
// err's chain, or "Internal error." for any other error. Causes are not
// included, so the result never leaks internals.
func ErrorMessage(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) && e.Message != "" {
		return e.Message
	}
	if errors.As(err, &e) {
		return e.Code
	}
	return "Internal error."
}

// IsRetryable reports whether another attempt of the operation that failed
// with err may succeed: transient and internal errors are retryable;
// invalid, not_found, conflict and unauthorized are not.
func IsRetryable(err error) bool {
	switch ErrorCode(err) {
	case EINVALID, ENOTFOUND, ECONFLICT, EUNAUTHORIZED:
		return false
	default:
		return err != nil
	}
}

// ErrUnavailable marks an error as a dependency being briefly unavailable
// (the database restarting): steps are retried in place for a short while
// before the attempt counts as failed (package hatchet).
var ErrUnavailable = errors.New("temporarily unavailable")
