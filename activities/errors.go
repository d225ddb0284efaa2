// Package activities holds Flowgate's Temporal activities: the database, the API gateway
// and the file sandbox. Each is a struct that owns its dependencies; the worker registers
// the structs, and workflows call their methods by reference.
//
// Every activity takes one named input struct and returns one named output struct, so
// fields can be added without breaking workflows that are running.
package activities

import (
	"errors"
	"fmt"

	"go.temporal.io/sdk/temporal"
)

// Error types of non-retryable application errors. Workflows and the MCP server match
// on them with temporal.ApplicationError.Type().
const (
	// ErrTypeInvalidInput marks input that no retry can fix: a bad argument, a refused query.
	ErrTypeInvalidInput = "InvalidInput"
	// ErrTypeNotFound marks a record, file or service that does not exist.
	ErrTypeNotFound = "NotFound"
	// ErrTypeConflict marks a write that clashes with existing state.
	ErrTypeConflict = "Conflict"
	// ErrTypeRemoteRejected marks a 4xx answer from a gateway service.
	ErrTypeRemoteRejected = "RemoteRejected"
)

// expected returns a non-retryable error of errType for a failure that is part of normal
// operation (a refused input, a missing row, a 4xx answer): it is marked benign, so the
// worker logs it at debug level instead of ERROR, and the caller gets the message.
func expected(errType, msg string, details ...any) error {
	return temporal.NewApplicationErrorWithOptions(msg, errType, temporal.ApplicationErrorOptions{
		NonRetryable: true,
		Cause:        errors.New(msg),
		Details:      details,
		Category:     temporal.ApplicationErrorCategoryBenign,
	})
}

// invalidInput returns a non-retryable error naming the field, the problem and what is allowed.
func invalidInput(field, format string, args ...any) error {
	return expected(ErrTypeInvalidInput, field+": "+fmt.Sprintf(format, args...))
}

func notFound(format string, args ...any) error {
	return expected(ErrTypeNotFound, fmt.Sprintf(format, args...))
}

func conflict(format string, args ...any) error {
	return expected(ErrTypeConflict, fmt.Sprintf(format, args...))
}
