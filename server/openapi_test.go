package server

import (
	"bytes"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/go-chi/chi/v5"

	"github.com/ctpanel/ctpanel/handlers/api"
	"github.com/ctpanel/ctpanel/handlers/pages"
	"github.com/ctpanel/ctpanel/web"
)

// openAPIMethods are the keys of a path item that are operations; the rest
// (parameters, summary, ...) are not.
var openAPIMethods = []string{"get", "put", "post", "delete", "options", "head", "patch", "trace"}

// openAPIRoute is one (method, OpenAPI path) pair the router serves, with what
// the document has to say because of its middlewares.
type openAPIRoute struct {
	method, path  string
	authenticated bool // behind API.Authenticate
	staffOnly     bool // behind API.RequireStaff
}

func (r openAPIRoute) key() string { return r.method + " " + r.path }

// openAPIOperation is the part of an operation the tests read.
type openAPIOperation struct {
	OperationID string                     `json:"operationId"`
	Description string                     `json:"description"`
	Parameters  []json.RawMessage          `json:"parameters"`
	Responses   map[string]json.RawMessage `json:"responses"`
	Security    *[]map[string][]string     `json:"security"`
}

type openAPIParameter struct {
	Ref      string `json:"$ref"`
	Name     string `json:"name"`
	In       string `json:"in"`
	Required bool   `json:"required"`
}

// openAPIDoc is the document parsed twice: typed where the tests need
// fields, and generically to resolve $refs by JSON pointer.
type openAPIDoc struct {
	OpenAPI string `json:"openapi"`
	Info    struct {
		Title   string `json:"title"`
		Version string `json:"version"`
	} `json:"info"`
	Security   []map[string][]string                 `json:"security"`
	Paths      map[string]map[string]json.RawMessage `json:"paths"`
	Components struct {
		SecuritySchemes map[string]struct {
			Type   string `json:"type"`
			Scheme string `json:"scheme"`
		} `json:"securitySchemes"`
		Parameters map[string]openAPIParameter `json:"parameters"`
	} `json:"components"`
	raw any
}

func parseOpenAPI(t *testing.T, b []byte) *openAPIDoc {
	t.Helper()
	var d openAPIDoc
	if err := json.Unmarshal(b, &d); err != nil {
		t.Fatalf("openapi.json is not valid JSON: %v", err)
	}
	if err := json.Unmarshal(b, &d.raw); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &d
}

// operations lists the documented operations as "METHOD /path".
func (d *openAPIDoc) operations(t *testing.T) map[string]openAPIOperation {
	t.Helper()
	out := map[string]openAPIOperation{}
	for path, item := range d.Paths {
		for key, raw := range item {
			if !slices.Contains(openAPIMethods, key) {
				continue
			}
			var op openAPIOperation
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", key, path, err)
			}
			out[strings.ToUpper(key)+" "+path] = op
		}
	}
	return out
}

// parameters resolves the parameters of a path item and one of its
// operations, keyed by "in:name".
func (d *openAPIDoc) parameters(t *testing.T, path string, op openAPIOperation) map[string]openAPIParameter {
	t.Helper()
	var raws []json.RawMessage
	if pi, ok := d.Paths[path]["parameters"]; ok {
		if err := json.Unmarshal(pi, &raws); err != nil {
			t.Fatalf("%s parameters: %v", path, err)
		}
	}
	raws = append(raws, op.Parameters...)
	out := map[string]openAPIParameter{}
	for _, raw := range raws {
		var p openAPIParameter
		if err := json.Unmarshal(raw, &p); err != nil {
			t.Fatalf("%s parameter: %v", path, err)
		}
		if p.Ref != "" {
			name, ok := strings.CutPrefix(p.Ref, "#/components/parameters/")
			if !ok {
				t.Fatalf("%s: parameter $ref %q is not under #/components/parameters/", path, p.Ref)
			}
			p = d.Components.Parameters[name]
		}
		out[p.In+":"+p.Name] = p
	}
	return out
}

// resolve follows a local $ref ("#/a/b") through the generic document.
func (d *openAPIDoc) resolve(ref string) bool {
	pointer, ok := strings.CutPrefix(ref, "#/")
	if !ok {
		return false
	}
	cur := d.raw
	for _, tok := range strings.Split(pointer, "/") {
		tok = strings.ReplaceAll(strings.ReplaceAll(tok, "~1", "/"), "~0", "~")
		m, ok := cur.(map[string]any)
		if !ok {
			return false
		}
		if cur, ok = m[tok]; !ok {
			return false
		}
	}
	return true
}

// collectOpenAPIRefs collects every "$ref" value in the document with where it is.
func collectOpenAPIRefs(v any, at string, out map[string]string) {
	switch v := v.(type) {
	case map[string]any:
		for k, x := range v {
			if s, ok := x.(string); ok && k == "$ref" {
				out[at] = s
				continue
			}
			collectOpenAPIRefs(x, at+"/"+k, out)
		}
	case []any:
		for i, x := range v {
			collectOpenAPIRefs(x, at+"/"+strconv.Itoa(i), out)
		}
	}
}

var openAPIChiRegexpParam = regexp.MustCompile(`\{([^}:]+):[^}]*\}`)

// openAPIPath turns a chi pattern into an OpenAPI path: chi.Walk reports a
// subrouter's "/" as a trailing slash, and {name:regexp} is just {name}.
func openAPIPath(pattern string) string {
	p := openAPIChiRegexpParam.ReplaceAllString(pattern, "{$1}")
	if len(p) > 1 {
		p = strings.TrimSuffix(p, "/")
	}
	return p
}

func openAPIFuncPointer(f any) uintptr { return reflect.ValueOf(f).Pointer() }

// openAPIRouterRoutes walks the real router. Router only takes method values of
// api, so a zero API is enough to build it.
func openAPIRouterRoutes(t *testing.T) []openAPIRoute {
	t.Helper()
	a := &api.API{}
	authenticate, requireStaff := openAPIFuncPointer(a.Authenticate), openAPIFuncPointer(a.RequireStaff)
	requireAdmin, requireOperator := openAPIFuncPointer(a.RequireAdmin), openAPIFuncPointer(a.RequireOperator)
	authenticateWS := openAPIFuncPointer(a.AuthenticateWS)
	var out []openAPIRoute
	err := chi.Walk(Router(a, pages.MustNewUI(pages.UI{}, web.FS)), func(method, pattern string, _ http.Handler, mws ...func(http.Handler) http.Handler) error {
		if !strings.HasPrefix(pattern, "/api/") && pattern != "/healthz" && pattern != "/metrics" {
			return nil // web pages and static assets are not the API
		}
		if strings.Contains(pattern, "*") {
			t.Errorf("%s %s: a wildcard route cannot be described in OpenAPI", method, pattern)
		}
		r := openAPIRoute{method: method, path: openAPIPath(pattern)}
		for _, mw := range mws {
			switch openAPIFuncPointer(mw) {
			case authenticate, authenticateWS:
				r.authenticated = true
			case requireStaff, requireAdmin, requireOperator: // admin-only and operator-only are narrower staff-only
				r.staffOnly = true
			}
		}
		out = append(out, r)
		return nil
	})
	if err != nil {
		t.Fatalf("walk router: %v", err)
	}
	if len(out) == 0 {
		t.Fatal("the router has no routes")
	}
	return out
}

// openAPIRouteDrift compares served and documented routes both ways.
func openAPIRouteDrift(served []openAPIRoute, documented map[string]openAPIOperation) (undocumented, unserved []string) {
	seen := map[string]bool{}
	for _, r := range served {
		seen[r.key()] = true
		if _, ok := documented[r.key()]; !ok {
			undocumented = append(undocumented, r.key())
		}
	}
	for k := range documented {
		if !seen[k] {
			unserved = append(unserved, k)
		}
	}
	sort.Strings(undocumented)
	sort.Strings(unserved)
	return undocumented, unserved
}

func TestOpenAPIDocumentMatchesRouter(t *testing.T) {
	doc := parseOpenAPI(t, api.OpenAPIDocument())
	served := openAPIRouterRoutes(t)
	ops := doc.operations(t)
	undocumented, unserved := openAPIRouteDrift(served, ops)
	for _, k := range undocumented {
		t.Errorf("route %s is served but not in handlers/api/openapi.json", k)
	}
	for _, k := range unserved {
		t.Errorf("handlers/api/openapi.json documents %s, which the router does not serve", k)
	}
}

// TestOpenAPIDriftIsCaught keeps the check above honest: starting from a
// document that matches the router exactly, a route taken out or one added
// must be reported.
func TestOpenAPIDriftIsCaught(t *testing.T) {
	served := openAPIRouterRoutes(t)
	matching := func() map[string]openAPIOperation {
		m := map[string]openAPIOperation{}
		for _, r := range served {
			m[r.key()] = openAPIOperation{OperationID: r.key()}
		}
		return m
	}
	if undocumented, unserved := openAPIRouteDrift(served, matching()); len(undocumented)+len(unserved) != 0 {
		t.Fatalf("a matching document drifts: undocumented %v, unserved %v", undocumented, unserved)
	}

	ops := matching()
	const gone = "DELETE /api/v1/containers/{ref}"
	if _, ok := ops[gone]; !ok {
		t.Fatalf("the router does not serve %s", gone)
	}
	delete(ops, gone)
	undocumented, unserved := openAPIRouteDrift(served, ops)
	if !slices.Equal(undocumented, []string{gone}) || len(unserved) != 0 {
		t.Errorf("with %s removed from the document: undocumented %v, unserved %v", gone, undocumented, unserved)
	}

	ops = matching()
	const extra = "PUT /api/v1/containers/{ref}"
	ops[extra] = openAPIOperation{OperationID: "putContainer"}
	undocumented, unserved = openAPIRouteDrift(served, ops)
	if len(undocumented) != 0 || !slices.Equal(unserved, []string{extra}) {
		t.Errorf("with %s added to the document: undocumented %v, unserved %v", extra, undocumented, unserved)
	}

	if got := openAPIPath("/api/v1/containers/{ref}/"); got != "/api/v1/containers/{ref}" {
		t.Errorf("openAPIPath kept the trailing slash: %q", got)
	}
	if got := openAPIPath("/"); got != "/" {
		t.Errorf("openAPIPath(\"/\") = %q", got)
	}
	if got := openAPIPath("/operations/{id:[0-9a-f-]+}/wait"); got != "/operations/{id}/wait" {
		t.Errorf("openAPIPath kept a regexp: %q", got)
	}
}

func TestOpenAPIDocumentIsWellFormed(t *testing.T) {
	doc := parseOpenAPI(t, api.OpenAPIDocument())
	if doc.OpenAPI != "3.0.3" {
		t.Errorf("openapi = %q, want 3.0.3", doc.OpenAPI)
	}
	if doc.Info.Title != "ctpanel" || doc.Info.Version == "" {
		t.Errorf("info = %+v, want title ctpanel and a version", doc.Info)
	}
	if s := doc.Components.SecuritySchemes["bearerAuth"]; s.Type != "http" || s.Scheme != "bearer" {
		t.Errorf("securitySchemes.bearerAuth = %+v, want http bearer", s)
	}
	if !reflect.DeepEqual(doc.Security, []map[string][]string{{"bearerAuth": {}}}) {
		t.Errorf("global security = %v, want bearerAuth", doc.Security)
	}

	ops := doc.operations(t)
	ids := map[string]string{}
	for key, op := range ops {
		switch {
		case op.OperationID == "":
			t.Errorf("%s has no operationId", key)
		case ids[op.OperationID] != "":
			t.Errorf("%s and %s share operationId %q", key, ids[op.OperationID], op.OperationID)
		default:
			ids[op.OperationID] = key
		}
		if len(op.Responses) == 0 {
			t.Errorf("%s has no responses", key)
		}
		for code := range op.Responses {
			if n, err := strconv.Atoi(code); code != "default" && (err != nil || n < 100 || n > 599) {
				t.Errorf("%s: response key %q is not a status code", key, code)
			}
		}
	}

	// Every {param} in a path is a required path parameter, and every path
	// parameter is in the path.
	for key, op := range ops {
		path := key[strings.IndexByte(key, ' ')+1:]
		params := doc.parameters(t, path, op)
		inPath := map[string]bool{}
		for _, m := range regexp.MustCompile(`\{([^}]+)\}`).FindAllStringSubmatch(path, -1) {
			inPath[m[1]] = true
			if p, ok := params["path:"+m[1]]; !ok || !p.Required {
				t.Errorf("%s: {%s} is not declared as a required path parameter", key, m[1])
			}
		}
		for k, p := range params {
			if p.Name == "" || p.In == "" {
				t.Errorf("%s: parameter %q has no name or in", key, k)
			}
			if p.In == "path" && !inPath[p.Name] {
				t.Errorf("%s: path parameter %q is not in the path", key, p.Name)
			}
		}
	}

	found := map[string]string{}
	collectOpenAPIRefs(doc.raw, "#", found)
	if len(found) == 0 {
		t.Error("no $refs at all: the walk over the document is broken")
	}
	for at, ref := range found {
		if !strings.HasPrefix(ref, "#/components/") || !doc.resolve(ref) {
			t.Errorf("%s: $ref %q does not resolve to a component", at, ref)
		}
	}
	if doc.resolve("#/components/schemas/NoSuchSchema") {
		t.Error("resolve found a component that does not exist")
	}
}

// TestOpenAPISecurityFollowsMiddleware: a route outside Authenticate says
// security: [], one inside answers 401, and one behind RequireStaff answers
// 403 and says so.
func TestOpenAPISecurityFollowsMiddleware(t *testing.T) {
	doc := parseOpenAPI(t, api.OpenAPIDocument())
	ops := doc.operations(t)
	for _, r := range openAPIRouterRoutes(t) {
		op, ok := ops[r.key()]
		if !ok {
			continue // reported by TestOpenAPIDocumentMatchesRouter
		}
		public := op.Security != nil && len(*op.Security) == 0
		if !r.authenticated && !public {
			t.Errorf("%s needs no token but is not marked security: []", r.key())
		}
		if r.authenticated && op.Security != nil {
			t.Errorf("%s needs a token but overrides the global security with %v", r.key(), *op.Security)
		}
		if _, has401 := op.Responses["401"]; r.authenticated != has401 {
			t.Errorf("%s: authenticated %v but documents 401: %v", r.key(), r.authenticated, has401)
		}
		_, has403 := op.Responses["403"]
		marked := strings.Contains(op.Description, "Staff only")
		// A route open to customers may still refuse some of its fields
		// with 403 (PATCH's name and onboot), but never claims "Staff only".
		if (r.staffOnly && !has403) || r.staffOnly != marked {
			t.Errorf("%s: staff only %v, but documents 403: %v, says \"Staff only\": %v", r.key(), r.staffOnly, has403, marked)
		}
	}
}

func TestOpenAPIServedWithoutToken(t *testing.T) {
	a := &api.API{Log: slog.New(slog.DiscardHandler)}
	srv := httptest.NewServer(Router(a, pages.MustNewUI(pages.UI{}, web.FS)))
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Content-Type") != "application/json" {
		t.Fatalf("GET /api/v1/openapi.json: %d %s: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
	}
	if !bytes.Equal(body, api.OpenAPIDocument()) {
		t.Error("the served document is not the embedded one")
	}
}
