package api

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"unicode"

	"github.com/ctpanel/ctpanel/db"
)

// recorder keeps a copy of what a handler answers.
type recorder struct {
	http.ResponseWriter
	status int
	body   bytes.Buffer
}

func (r *recorder) WriteHeader(code int) {
	if r.status == 0 {
		r.status = code
	}
	r.ResponseWriter.WriteHeader(code)
}

func (r *recorder) Write(b []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	r.body.Write(b)
	return r.ResponseWriter.Write(b)
}

// Idempotency makes POSTs with an Idempotency-Key safe to retry: the same
// key with the same body replays the first answer (with header
// Idempotent-Replayed: true), the same key with another body or route is a
// 422, and a retry while the first is still running is a 409. Keys are per
// token and remembered for 24 hours; a request that failed with a 5xx
// forgets its key so it can be retried.
func (a *API) Idempotency(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		key := r.Header.Get("Idempotency-Key")
		if r.Method != http.MethodPost || key == "" {
			next.ServeHTTP(w, r)
			return
		}
		if len(key) > 255 || strings.IndexFunc(key, func(c rune) bool { return c > unicode.MaxASCII || unicode.IsControl(c) }) >= 0 {
			a.smartError(w, r, &APIError{Status: http.StatusBadRequest, Code: "invalid_parameter",
				Message: "Idempotency-Key must be 1 to 255 printable ASCII characters", Fields: map[string]string{"Idempotency-Key": "1 to 255 printable ASCII characters"}})
			return
		}
		body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBody))
		if err != nil {
			a.smartError(w, r, jsonError(err))
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		sum := sha256.Sum256(body)
		p := principal(r)
		route := r.URL.Path + "?" + r.URL.RawQuery
		rec, err := a.Store.ClaimIdempotencyKey(r.Context(), p.TokenID, key, r.Method, route, sum[:])
		if err != nil {
			a.smartError(w, r, err)
			return
		}
		if !rec.Fresh {
			switch {
			case !bytes.Equal(rec.BodyHash, sum[:]):
				a.smartError(w, r, apiErr(http.StatusUnprocessableEntity, "idempotency_mismatch",
					"Idempotency-Key %q was used for a different request; use a new key", key))
			case !rec.Done:
				a.smartError(w, r, apiErr(http.StatusConflict, "idempotency_in_progress",
					"a request with Idempotency-Key %q is still being processed; retry shortly", key))
			default:
				if rec.Location != "" {
					w.Header().Set("Location", rec.Location)
				}
				w.Header().Set("Content-Type", "application/json")
				w.Header().Set("Idempotent-Replayed", "true")
				w.WriteHeader(rec.Status)
				_, _ = w.Write(rec.Response)
			}
			return
		}
		out := &recorder{ResponseWriter: w}
		secrets := &secretFields{}
		next.ServeHTTP(out, r.WithContext(context.WithValue(r.Context(), secretFieldsKey{}, secrets)))
		// Recorded even when the client has gone away: its retry must get
		// this answer, not run the request a second time.
		ctx := context.WithoutCancel(r.Context())
		if out.status >= 500 || out.status == 0 {
			_ = a.Store.ReleaseIdempotencyKey(ctx, p.TokenID, key)
			return
		}
		if err := a.Store.FinishIdempotencyKey(ctx, p.TokenID, key, out.status, w.Header().Get("Location"), secrets.redact(out.body.Bytes())); err != nil {
			a.Log.Warn("store idempotent answer", "err", err)
		}
	})
}

// secretFields are the top-level fields of an answer that carry a secret
// shown once (a token, a generated password): an answer remembered for
// Idempotency-Key replays keeps them as null.
type secretFields struct{ names []string }

type secretFieldsKey struct{}

// markSecret says which fields of the answer to r carry a secret.
func markSecret(r *http.Request, names ...string) {
	if s, ok := r.Context().Value(secretFieldsKey{}).(*secretFields); ok {
		s.names = append(s.names, names...)
	}
}

// redact nulls the secret fields of a JSON answer.
func (s *secretFields) redact(body []byte) []byte {
	if len(s.names) == 0 {
		return body
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return []byte("null") // not an object: keep nothing of it
	}
	for _, n := range s.names {
		if _, ok := m[n]; ok {
			m[n] = json.RawMessage("null")
		}
	}
	out, err := json.Marshal(m)
	if err != nil {
		return []byte("null")
	}
	return out
}

// AuditCalls writes every call that changes something (any method but GET
// and HEAD) to the audit log with the token's name, the route and the
// answer's status.
func (a *API) AuditCalls(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet || r.Method == http.MethodHead {
			next.ServeHTTP(w, r)
			return
		}
		out := &recorder{ResponseWriter: w}
		next.ServeHTTP(out, r)
		if f, ok := w.(http.Flusher); ok {
			f.Flush() // the answer goes out before its audit row is written
		}
		p := principal(r)
		// Recorded even when the client has gone away.
		err := a.Store.Audit(context.WithoutCancel(r.Context()), db.AuditEntry{Actor: p.Actor(), ActorRole: p.Role, Action: "api." + strings.ToLower(r.Method),
			Details: map[string]any{"path": r.URL.Path, "status": out.status, "token": p.TokenName, "idempotency_key": r.Header.Get("Idempotency-Key")}})
		if err != nil {
			a.Log.Warn("audit call", "err", err)
		}
	})
}
