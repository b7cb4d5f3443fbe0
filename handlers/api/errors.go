package api

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

	"github.com/ctpanel/ctpanel/domain"
)

// APIError is the one error shape every API answer uses:
// {"error":{"code":"...","message":"...","fields":{...}}}.
type APIError = domain.Error

// FieldErrors collects field-level validation failures.
type FieldErrors = domain.FieldErrors

func apiErr(status int, code, format string, args ...any) *APIError {
	return domain.Errorf(status, code, format, args...)
}

func notFound(format string, args ...any) *APIError { return domain.NotFound(format, args...) }

// smartError maps any error to an API error: validation and known
// sentinels become 4xx, anything else a logged 500.
func (a *API) smartError(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() != nil && errors.Is(err, context.Canceled) {
		return // the client went away; there is no one to answer
	}
	ae := domain.AsError(err)
	if ae == domain.ErrUnavailable {
		a.Log.Warn("database unavailable", "method", r.Method, "path", r.URL.Path, "err", err)
		w.Header().Set("Retry-After", "5")
	}
	if ae == nil {
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
	if err != nil {
		return jsonError(err)
	}
	if bytes.Contains(body, []byte(`\u0000`)) {
		if field := nulField(body); field != "" {
			return &APIError{Status: http.StatusBadRequest, Code: "bad_json",
				Message: field + " must not contain a NUL byte", Fields: map[string]string{field: "must not contain a NUL byte"}}
		}
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(dst)
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

// invalidParam is a 400 for a bad query parameter.
func invalidParam(name, reason string) error {
	return &APIError{Status: http.StatusBadRequest, Code: "invalid_parameter",
		Message: name + " " + reason, Fields: map[string]string{name: reason}}
}

// nulField is the first field of a JSON body whose text (or name) holds a
// NUL byte, as "ssh_keys[0]" or "limits.numproc"; "" when none does.
func nulField(body []byte) string {
	var v any
	if json.Unmarshal(body, &v) != nil {
		return "" // the decoder names what is wrong with it
	}
	return nulIn(v, "")
}

func nulIn(v any, at string) string {
	name := func(k string) string {
		if at == "" {
			return k
		}
		return at + "." + k
	}
	switch v := v.(type) {
	case string:
		if strings.ContainsRune(v, 0) {
			if at == "" {
				return "body"
			}
			return at
		}
	case map[string]any:
		for k, e := range v {
			if strings.ContainsRune(k, 0) {
				return name(strings.ReplaceAll(k, "\x00", ""))
			}
			if f := nulIn(e, name(k)); f != "" {
				return f
			}
		}
	case []any:
		for i, e := range v {
			if f := nulIn(e, at+"["+strconv.Itoa(i)+"]"); f != "" {
				return f
			}
		}
	}
	return ""
}
