// Package domain holds what both front ends (the REST API in
// handlers/api and the web pages in handlers/pages) share below HTTP: the
// error every rule answers with, and the audit trail. The rules
// themselves live in one package per concern beside it: policy (who may
// do what; name, password and key rules), containers, customers, plans,
// templates, tokens and webhooks. Each validates its input, authorizes the
// caller, opens the transaction, records the state change and its
// operation, and audits; the front ends decode, call and render.
package domain

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sort"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/diskspace"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// ErrUnavailable: the database cannot be reached now; try again shortly.
var ErrUnavailable = &Error{Status: http.StatusServiceUnavailable, Code: "unavailable",
	Message: "the panel's database is not reachable right now; try again in a few seconds"}

// Error is a refusal a person can act on. Status is the HTTP status both
// front ends answer with (the API in its error envelope, the pages as a
// page or a form's messages); Code is the API's machine-readable code.
type Error struct {
	Status  int               `json:"-"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func (e *Error) Error() string { return e.Message }

// Errorf makes an Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// NotFound is a 404: what does not exist, or is not the caller's to see.
func NotFound(format string, args ...any) *Error {
	return Errorf(http.StatusNotFound, "not_found", format, args...)
}

// Conflict is a 409: the request is fine, the state of things is not.
func Conflict(format string, args ...any) *Error {
	return Errorf(http.StatusConflict, "conflict", format, args...)
}

// ConflictField is a 409 naming the field whose value clashes with what
// exists.
func ConflictField(field, format string, args ...any) *Error {
	e := Conflict(format, args...)
	e.Fields = map[string]string{field: e.Message}
	return e
}

// Forbidden is a 403: the caller's role may not do this.
func Forbidden(format string, args ...any) *Error {
	return Errorf(http.StatusForbidden, "forbidden", format, args...)
}

// FieldErrors collects field-level validation failures.
type FieldErrors map[string]string

// Add records the first reason a field is wrong.
func (f FieldErrors) Add(field, reason string) {
	if _, ok := f[field]; !ok {
		f[field] = reason
	}
}

// Err is nil when no field failed, else a 422 naming them all.
func (f FieldErrors) Err() error {
	if len(f) == 0 {
		return nil
	}
	keys := make([]string, 0, len(f))
	for k := range f {
		keys = append(keys, k+": "+f[k])
	}
	sort.Strings(keys)
	return &Error{Status: http.StatusUnprocessableEntity, Code: "invalid_request",
		Message: "invalid " + strings.Join(keys, "; "), Fields: f}
}

// Merge adds the field reasons of err, a 422 naming fields (what Err
// returns), to f, so that a check run in a step of its own is reported
// with the others at once; it returns nil then, and any other error as
// it is.
func (f FieldErrors) Merge(err error) error {
	var de *Error
	if !errors.As(err, &de) || de.Status != http.StatusUnprocessableEntity || len(de.Fields) == 0 {
		return err
	}
	for k, v := range de.Fields {
		f.Add(k, v)
	}
	return nil
}

// AsError maps any error to the refusal it means: an *Error as it is,
// the store's and the driver's sentinels as 4xx, and nil for anything
// else (a fault to log and answer with a 500).
func AsError(err error) *Error {
	var de *Error
	var ce *db.ConflictError
	switch {
	case errors.As(err, &de):
		return de
	case diskspace.IsFull(err):
		return &Error{Status: http.StatusInsufficientStorage, Code: "insufficient_storage",
			Message: "no space left on the server's disk; staff see which file system in /healthz"}
	case errors.As(err, &ce):
		return &Error{Status: http.StatusConflict, Code: "conflict",
			Message: ce.Field + " is already taken", Fields: map[string]string{ce.Field: "already taken"}}
	case errors.Is(err, db.ErrNotFound), errors.Is(err, lxcdriver.ErrNotFound):
		return NotFound("not found")
	case errors.Is(err, lxcdriver.ErrNotRunning):
		return Conflict("container is not running")
	case errors.Is(err, lxcdriver.ErrFrozen):
		return Conflict("container is frozen; unfreeze it first")
	case errors.Is(err, lxcdriver.ErrNoDisk):
		return Conflict("the container has no disk of its own")
	case errors.Is(err, lxcdriver.ErrRunning):
		return Conflict("container is running")
	case db.IsUnavailable(err):
		return ErrUnavailable
	case db.IsDataException(err):
		// What the policy's rules did not catch and the database refused:
		// a NUL byte in a reference, a number out of range.
		return Errorf(http.StatusBadRequest, "invalid_value", "a value in the request is not one the database can hold "+
			"(text with a NUL byte, a number out of range)")
	}
	return nil
}

// Audit writes one entry of the audit trail for p, inside the caller's
// transaction (q) so that it stands or falls with the change.
func Audit(ctx context.Context, q *db.Queries, p db.Principal, action string, ctid *int, details map[string]any) error {
	return q.Audit(ctx, db.AuditEntry{Actor: p.Actor(), ActorRole: p.Role, Action: action, CTID: ctid, Details: details})
}

// AuditOutside writes an audit entry for a change already made outside a
// transaction: the change stands even when its entry cannot be written,
// which is logged.
func AuditOutside(ctx context.Context, store *db.Store, log *slog.Logger, p db.Principal, action string, details map[string]any) {
	if err := store.Audit(context.WithoutCancel(ctx), db.AuditEntry{Actor: p.Actor(), ActorRole: p.Role, Action: action, Details: details}); err != nil {
		log.Warn("audit", "action", action, "err", err)
	}
}

// Entry is p's audit entry for action on container ctid; the operations
// package writes it with the operation it records (adding the
// operation's id to details), in the same statement. An entry with no
// action only names who asked.
func Entry(p db.Principal, action string, ctid *int, details map[string]any) db.AuditEntry {
	return db.AuditEntry{Actor: p.Actor(), ActorRole: p.Role, Action: action, CTID: ctid, Details: details}
}

// ParseID reads the numeric id of a kind of thing ("customer", "token")
// from a path: text that is not one names nothing, a 404.
func ParseID(kind, id string) (int64, error) {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil {
		return 0, NotFound("%s %q does not exist", kind, id)
	}
	return n, nil
}
