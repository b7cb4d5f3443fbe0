package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// APIError is the one error shape every API answer uses:
// {"error":{"code":"...","message":"...","fields":{...}}}.
type APIError struct {
	Status  int               `json:"-"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func (e *APIError) Error() string { return e.Message }

func apiErr(status int, code, format string, args ...any) *APIError {
	return &APIError{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

func notFound(format string, args ...any) *APIError {
	return apiErr(http.StatusNotFound, "not_found", format, args...)
}

func conflict(format string, args ...any) *APIError {
	return apiErr(http.StatusConflict, "conflict", format, args...)
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
	sortStrings(keys)
	return &APIError{Status: http.StatusUnprocessableEntity, Code: "invalid_request",
		Message: "invalid " + strings.Join(keys, "; "), Fields: f}
}

// smartError maps any error to an API error: validation and known
// sentinels become 4xx, anything else a logged 500.
func (a *API) smartError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *APIError
	var ce *db.ConflictError
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		return // the client went away; there is no one to answer
	}
	switch {
	case errors.As(err, &ae):
	case errors.As(err, &ce):
		ae = &APIError{Status: http.StatusConflict, Code: "conflict",
			Message: ce.Field + " is already taken", Fields: map[string]string{ce.Field: "already taken"}}
	case errors.Is(err, db.ErrNotFound), errors.Is(err, lxcdriver.ErrNotFound):
		ae = notFound("not found")
	case errors.Is(err, lxcdriver.ErrNotRunning):
		ae = conflict("container is not running")
	case errors.Is(err, lxcdriver.ErrFrozen):
		ae = conflict("container is frozen; unfreeze it first")
	case errors.Is(err, lxcdriver.ErrNoDisk):
		ae = conflict("the container has no disk of its own")
	case errors.Is(err, lxcdriver.ErrRunning):
		ae = conflict("container is running")
	default:
		a.Log.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = apiErr(http.StatusInternalServerError, "internal", "internal error; the server log has details")
	}
	writeJSON(w, ae.Status, map[string]any{"error": ae})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
	w.Header().Set("Content-Type", "application/json")
	// A known length lets a client have the whole answer as soon as it is
	// flushed, before bookkeeping such as the audit row is written.
	w.Header().Set("Content-Length", strconv.Itoa(b.Len()))
	w.WriteHeader(status)
	_, _ = w.Write(b.Bytes())
}

// maxBody bounds request bodies.
const maxBody = 1 << 20

// decodeJSON reads a strict JSON body into dst: unknown fields, wrong
// types, trailing data and oversize bodies are 400s naming the problem.
// An empty body leaves dst as it is when allowEmpty.
func decodeJSON(w http.ResponseWriter, r *http.Request, dst any, allowEmpty bool) error {
	body := http.MaxBytesReader(w, r.Body, maxBody)
	dec := json.NewDecoder(body)
	dec.DisallowUnknownFields()
	err := dec.Decode(dst)
	if errors.Is(err, io.EOF) {
		if allowEmpty {
			return nil
		}
		return apiErr(http.StatusBadRequest, "bad_json", "request body is empty; a JSON object is expected")
	}
	if err != nil {
		return jsonError(err)
	}
	if dec.More() {
		return apiErr(http.StatusBadRequest, "bad_json", "request body has data after the JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return apiErr(http.StatusBadRequest, "bad_json", "request body has data after the JSON object")
	}
	return nil
}

func jsonError(err error) error {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	var tooBig *http.MaxBytesError
	msg := err.Error()
	switch {
	case errors.As(err, &syn):
		return apiErr(http.StatusBadRequest, "bad_json", "malformed JSON at byte %d: %s", syn.Offset, msg)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "body"
		}
		return &APIError{Status: http.StatusBadRequest, Code: "bad_json",
			Message: fmt.Sprintf("%s must be %s, not %s", field, typ.Type.String(), typ.Value),
			Fields:  map[string]string{field: "must be " + typ.Type.String()}}
	case errors.As(err, &tooBig):
		return apiErr(http.StatusRequestEntityTooLarge, "too_large", "request body is over %d bytes", tooBig.Limit)
	case strings.HasPrefix(msg, "json: unknown field "):
		field := strings.Trim(strings.TrimPrefix(msg, "json: unknown field "), `"`)
		return &APIError{Status: http.StatusBadRequest, Code: "unknown_field",
			Message: fmt.Sprintf("unknown field %q", field), Fields: map[string]string{field: "unknown field"}}
	case errors.Is(err, io.ErrUnexpectedEOF):
		return apiErr(http.StatusBadRequest, "bad_json", "malformed JSON: unexpected end of body")
	}
	return apiErr(http.StatusBadRequest, "bad_json", "malformed JSON: %s", msg)
}
