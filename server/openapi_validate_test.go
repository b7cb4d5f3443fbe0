package server

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/legacy"

	"github.com/ctpanel/ctpanel/handlers/api"
)

// malformedHeader marks a request a test sends malformed on purpose, to
// check the 4xx it gets: the validating handler checks only its response.
// The handler removes the header before the panel sees the request. Set it
// with testPanel.doMalformed, or by hand on other clients.
const malformedHeader = "X-Ctpanel-Test-Malformed"

// maxCheckedBody bounds the request bodies the validator reads (the API's
// JSON bodies are limited to 1 MiB; template uploads are bigger).
const maxCheckedBody = 1 << 20

// loadOpenAPI parses and validates the embedded document with kin-openapi.
func loadOpenAPI() (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	doc, err := loader.LoadFromData(api.OpenAPIDocument())
	if err != nil {
		return nil, fmt.Errorf("load openapi.json: %w", err)
	}
	if err := doc.Validate(context.Background()); err != nil {
		return nil, fmt.Errorf("validate openapi.json: %w", err)
	}
	return doc, nil
}

// openAPIRouter is the document and its router, built once per test binary:
// every request of every panel test goes through it.
var openAPIRouter = sync.OnceValues(func() (routers.Router, error) {
	doc, err := loadOpenAPI()
	if err != nil {
		return nil, err
	}
	// The one server is "/", this panel; the router matches servers by
	// absolute URL, so without them it matches the path alone.
	doc.Servers = nil
	return legacy.NewRouter(doc)
})

// TestOpenAPIDocumentValidates: kin-openapi, a full OpenAPI 3 validator,
// accepts the document (schemas, $refs, parameters, examples).
func TestOpenAPIDocumentValidates(t *testing.T) {
	if _, err := loadOpenAPI(); err != nil {
		t.Fatal(err)
	}
	if _, err := openAPIRouter(); err != nil {
		t.Fatal(err)
	}
}

// validateAgainstOpenAPI wraps the panel's handler: every request to a path
// the document describes, and every one under /api/v1/, is checked against
// the document, and so is its answer; a mismatch fails the test. Websocket
// upgrades are only checked to be documented; requests marked with
// malformedHeader have only their answer checked.
func validateAgainstOpenAPI(t testing.TB, next http.Handler) http.Handler {
	t.Helper()
	if _, err := openAPIRouter(); err != nil {
		t.Fatalf("openapi router: %v", err)
	}
	return openAPIValidator(t.Errorf, next)
}

// openAPIValidator is validateAgainstOpenAPI reporting mismatches to
// report (t.Errorf, which may be called from the server's goroutines).
func openAPIValidator(report func(format string, args ...any), next http.Handler) http.Handler {
	router, _ := openAPIRouter()
	// Authorization is the panel's business, tested on its own: the
	// validator only checks shapes.
	reqOpts := &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc}
	resOpts := &openapi3filter.Options{IncludeResponseStatus: true}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		malformed := r.Header.Get(malformedHeader) != ""
		r.Header.Del(malformedHeader)
		api := strings.HasPrefix(r.URL.Path, "/api/v1/")
		route, params, err := router.FindRoute(r)
		if err != nil {
			if api {
				report("openapi: %s %s is not in the document: %v", r.Method, r.URL.Path, err)
			}
			next.ServeHTTP(w, r)
			return
		}
		if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			next.ServeHTTP(w, r)
			return
		}
		// The body is read here and handed on as it came; one too big to
		// hold (an upload the panel must refuse from its Content-Length
		// alone) is handed on unread and its checks skipped.
		opts := reqOpts
		var body []byte
		if r.ContentLength > maxCheckedBody {
			opts = &openapi3filter.Options{AuthenticationFunc: reqOpts.AuthenticationFunc, ExcludeRequestBody: true}
		} else if r.Body != nil {
			body, err = io.ReadAll(io.LimitReader(r.Body, maxCheckedBody+1))
			if err != nil {
				report("openapi: read %s %s: %v", r.Method, r.URL.Path, err)
			}
			if len(body) > maxCheckedBody {
				opts = &openapi3filter.Options{AuthenticationFunc: reqOpts.AuthenticationFunc, ExcludeRequestBody: true}
			}
			r.Body = struct {
				io.Reader
				io.Closer
			}{io.MultiReader(bytes.NewReader(body), r.Body), r.Body}
		}
		check := r.Clone(r.Context())
		check.Body = io.NopCloser(bytes.NewReader(body))
		in := &openapi3filter.RequestValidationInput{Request: check, PathParams: params, Route: route, Options: opts}
		if !malformed {
			if err := openapi3filter.ValidateRequest(r.Context(), in); err != nil {
				report("openapi: request %s %s does not match the document: %v\nbody: %.500s", r.Method, r.URL.RequestURI(), err, body)
			}
		}

		rec := &recordingWriter{ResponseWriter: w}
		next.ServeHTTP(rec, r)
		// A hijacked connection is a websocket now; a client that went
		// away gets no answer at all.
		if rec.hijacked || (rec.status == 0 && r.Context().Err() != nil) {
			return
		}
		status := rec.status
		if status == 0 {
			status = http.StatusOK
		}
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in,
			Status:                 status,
			Header:                 rec.header,
			Body:                   io.NopCloser(bytes.NewReader(rec.body.Bytes())),
			Options:                resOpts,
		}
		if out.Header == nil {
			out.Header = w.Header().Clone()
		}
		if err := openapi3filter.ValidateResponse(r.Context(), out); err != nil {
			report("openapi: answer %d to %s %s does not match the document: %v\nbody: %.500s", status, r.Method, r.URL.RequestURI(), err, rec.body.Bytes())
		}
	})
}

// recordingWriter passes an answer through and keeps a copy of it.
type recordingWriter struct {
	http.ResponseWriter
	status   int
	header   http.Header
	body     bytes.Buffer
	hijacked bool
}

func (w *recordingWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
		w.header = w.ResponseWriter.Header().Clone()
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *recordingWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.body.Write(b)
	return w.ResponseWriter.Write(b)
}

func (w *recordingWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *recordingWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, errors.New("recordingWriter: the underlying writer cannot hijack")
	}
	w.hijacked = true
	return h.Hijack()
}

// Unwrap lets http.ResponseController reach the real writer.
func (w *recordingWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// doMalformed is do for a request malformed on purpose: only the answer is
// checked against the document.
func (p *testPanel) doMalformed(token, method, path string, body any) response {
	p.t.Helper()
	return p.doWith(http.Header{malformedHeader: {"1"}}, token, method, path, body)
}

// TestOpenAPIValidatorCatchesDrift: the validator every panel test runs
// behind reports a request or an answer the document does not describe,
// and an undocumented route, and the malformed opt-out skips only the
// request.
func TestOpenAPIValidatorCatchesDrift(t *testing.T) {
	errBody := `{"error":{"code":"bad_json","message":"ctid must be a number"}}`
	stub := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/v1/containers/101":
			_, _ = io.WriteString(w, `{"ctid":"not a number"}`)
		case "/api/v1/containers":
			w.WriteHeader(http.StatusBadRequest)
			_, _ = io.WriteString(w, errBody)
		default:
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"code":"not_found","message":"no such route"}}`)
		}
	})
	for _, tc := range []struct {
		name, method, path, body string
		malformed                bool
		want                     string // in the report; empty: no report
	}{
		{"answer off the schema", "GET", "/api/v1/containers/101", "", false, "answer 200 to GET /api/v1/containers/101"},
		{"undocumented route", "GET", "/api/v1/nope", "", false, "is not in the document"},
		{"request off the schema", "POST", "/api/v1/containers", `{"ctid":"abc","template":"busybox"}`, false, "request POST /api/v1/containers"},
		{"malformed on purpose", "POST", "/api/v1/containers", `{"ctid":"abc","template":"busybox"}`, true, ""},
		{"outside the API", "GET", "/login", "", false, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var reports []string
			h := openAPIValidator(func(format string, args ...any) {
				reports = append(reports, fmt.Sprintf(format, args...))
			}, stub)
			req := httptest.NewRequest(tc.method, tc.path, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.malformed {
				req.Header.Set(malformedHeader, "1")
			}
			h.ServeHTTP(httptest.NewRecorder(), req)
			if req.Header.Get(malformedHeader) != "" {
				t.Error("the opt-out header reached the panel")
			}
			switch {
			case tc.want == "" && len(reports) > 0:
				t.Errorf("unexpected reports: %q", reports)
			case tc.want != "" && (len(reports) != 1 || !strings.Contains(reports[0], tc.want)):
				t.Errorf("reports %q, want one saying %q", reports, tc.want)
			}
		})
	}
}

// openAPIClient is an http.Client whose requests and answers are checked
// like validateAgainstOpenAPI's, for tests that call a panel running in
// another process.
func openAPIClient(t *testing.T) *http.Client {
	t.Helper()
	if _, err := openAPIRouter(); err != nil {
		t.Fatalf("openapi router: %v", err)
	}
	return &http.Client{Transport: validatingTransport{t: t, base: http.DefaultTransport}}
}

type validatingTransport struct {
	t    *testing.T
	base http.RoundTripper
}

// RoundTrip sends the request through openAPIValidator, whose handler
// forwards it to the real server and copies back the answer.
func (v validatingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	var res *http.Response
	var rtErr error
	forward := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		res, rtErr = v.base.RoundTrip(r)
		if rtErr != nil {
			return
		}
		defer res.Body.Close()
		for k, vs := range res.Header {
			w.Header()[k] = vs
		}
		w.WriteHeader(res.StatusCode)
		_, _ = io.Copy(w, res.Body)
	})
	rec := httptest.NewRecorder()
	report := func(format string, args ...any) {
		if rtErr == nil { // no answer, nothing to check
			v.t.Errorf(format, args...)
		}
	}
	openAPIValidator(report, forward).ServeHTTP(rec, req)
	if rtErr != nil {
		return nil, rtErr
	}
	out := rec.Result()
	out.Request = req
	return out, nil
}
