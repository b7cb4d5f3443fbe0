package server

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/ctpanel/ctpanel/apiclient"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// TestAPIClientIsGenerated regenerates the client from handlers/api/openapi.json
// exactly as apiclient/generate.go does and fails if the committed
// apiclient/client.gen.go differs: the client cannot drift from the document.
func TestAPIClientIsGenerated(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Fatal("no go command on PATH to run oapi-codegen with")
	}
	out := filepath.Join(t.TempDir(), "client.gen.go")
	cmd := exec.Command("go", "tool", "oapi-codegen", "-generate", "types,client", "-package", "apiclient",
		"-o", out, "../handlers/api/openapi.json")
	cmd.Dir = "../apiclient"
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go tool oapi-codegen: %v\n%s", err, b)
	}
	got, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	committed, err := os.ReadFile("../apiclient/client.gen.go")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, committed) {
		t.Fatal("apiclient/client.gen.go is not what handlers/api/openapi.json generates; run go generate ./apiclient/")
	}
}

// strictJSON decodes an answer into a generated type refusing fields the
// document does not declare, so the types are the server's whole answer.
func strictJSON(t *testing.T, body []byte, v any) {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("the answer has a field the document does not declare: %v\n%s", err, body)
	}
}

// TestAPIClientCreateAndTerminate drives a container's life through the
// generated client only: create (with an Idempotency-Key, replayed), wait,
// read back, terminate, wait, and the 404 once it is gone.
func TestAPIClientCreateAndTerminate(t *testing.T) {
	p := newTestPanel(t, lxcdriver.NewFake(), "")
	bearer := apiclient.WithRequestEditorFn(func(_ context.Context, req *http.Request) error {
		req.Header.Set("Authorization", "Bearer "+p.admin)
		return nil
	})
	c, err := apiclient.NewClientWithResponses(p.srv.URL, bearer)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	wait := func(id apiclient.Id) apiclient.Operation {
		t.Helper()
		deadline := time.Now().Add(2 * time.Minute)
		for time.Now().Before(deadline) {
			r, err := c.WaitOperationWithResponse(ctx, id, &apiclient.WaitOperationParams{Timeout: ptrTo(30)})
			if err != nil {
				t.Fatal(err)
			}
			if r.JSON200 == nil {
				t.Fatalf("wait %s: %d %s", id, r.StatusCode(), r.Body)
			}
			var strict apiclient.Operation
			strictJSON(t, r.Body, &strict)
			switch r.JSON200.Status {
			case apiclient.OperationStatusSucceeded:
				return *r.JSON200
			case apiclient.OperationStatusFailed:
				t.Fatalf("operation %s (%s) failed: %s", id, r.JSON200.Action, deref(r.JSON200.Error))
			}
		}
		t.Fatalf("operation %s did not finish", id)
		return apiclient.Operation{}
	}

	key := "apiclient-create-1"
	body := apiclient.CreateContainerJSONRequestBody{
		Template:     "busybox",
		Name:         ptrTo("gen1"),
		Hostname:     ptrTo("gen1.example.com"),
		Start:        ptrTo(true),
		RootPassword: ptrTo("correct horse battery"),
		SshKeys:      &[]string{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB0g6D3sQk8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b8b test@gen1"},
	}
	created, err := c.CreateContainerWithResponse(ctx, &apiclient.CreateContainerParams{IdempotencyKey: &key}, body)
	if err != nil {
		t.Fatal(err)
	}
	if created.StatusCode() != http.StatusAccepted || created.JSON202 == nil || created.Headers202 == nil {
		t.Fatalf("create: %d %s", created.StatusCode(), created.Body)
	}
	var strictOp apiclient.Operation
	strictJSON(t, created.Body, &strictOp)
	op := *created.JSON202
	if op.Action != apiclient.OperationActionCreate || op.Status != apiclient.OperationStatusRunning || op.Ctid < 101 {
		t.Fatalf("create answered %+v", op)
	}
	if loc := deref(created.Headers202.Location); loc != "/api/v1/operations/"+op.Id.String() {
		t.Errorf("create: Location %q", loc)
	}
	if cl := deref(created.Headers202.ContentLocation); cl != "/api/v1/containers/"+strconv.Itoa(op.Ctid) {
		t.Errorf("create: Content-Location %q", cl)
	}
	if created.Headers202.IdempotentReplayed != nil {
		t.Errorf("a first request says Idempotent-Replayed: %q", *created.Headers202.IdempotentReplayed)
	}

	// The same key and body: the first answer again, not a second container.
	again, err := c.CreateContainerWithResponse(ctx, &apiclient.CreateContainerParams{IdempotencyKey: &key}, body)
	if err != nil {
		t.Fatal(err)
	}
	if again.JSON202 == nil || again.JSON202.Id != op.Id || deref(again.Headers202.IdempotentReplayed) != "true" {
		t.Fatalf("replayed create: %d %v %s", again.StatusCode(), again.Headers202, again.Body)
	}
	// The same key and another body: 422 idempotency_mismatch.
	other := body
	other.Name = ptrTo("gen2")
	mismatch, err := c.CreateContainerWithResponse(ctx, &apiclient.CreateContainerParams{IdempotencyKey: &key}, other)
	if err != nil {
		t.Fatal(err)
	}
	if mismatch.JSON422 == nil || mismatch.JSON422.Error.Code != apiclient.ErrorErrorCodeIdempotencyMismatch {
		t.Fatalf("same key, other body: %d %s", mismatch.StatusCode(), mismatch.Body)
	}

	wait(op.Id)
	got, err := c.GetContainerWithResponse(ctx, "gen1")
	if err != nil {
		t.Fatal(err)
	}
	if got.JSON200 == nil {
		t.Fatalf("get: %d %s", got.StatusCode(), got.Body)
	}
	var strictCT apiclient.Container
	strictJSON(t, got.Body, &strictCT)
	ct := *got.JSON200
	if ct.Ctid != op.Ctid || deref(ct.Name) != "gen1" || ct.Phase != apiclient.ContainerPhaseReady ||
		ct.Status != apiclient.ContainerStatusRunning || ct.Template != "busybox" || ct.Hostname != "gen1.example.com" {
		t.Fatalf("container %+v", ct)
	}

	ref := strconv.Itoa(ct.Ctid)
	termKey := "apiclient-terminate-1"
	term, err := c.TerminateContainerWithResponse(ctx, ref, &apiclient.TerminateContainerParams{IdempotencyKey: &termKey},
		apiclient.TerminateContainerJSONRequestBody{})
	if err != nil {
		t.Fatal(err)
	}
	if term.JSON202 == nil || term.Headers202 == nil {
		t.Fatalf("terminate: %d %s", term.StatusCode(), term.Body)
	}
	strictJSON(t, term.Body, &strictOp)
	if term.JSON202.Action != apiclient.OperationActionDestroy || term.JSON202.Ctid != ct.Ctid ||
		deref(term.Headers202.Location) != "/api/v1/operations/"+term.JSON202.Id.String() {
		t.Fatalf("terminate answered %+v (Location %q)", *term.JSON202, deref(term.Headers202.Location))
	}
	wait(term.JSON202.Id)

	gone, err := c.GetContainerWithResponse(ctx, ref)
	if err != nil {
		t.Fatal(err)
	}
	if gone.StatusCode() != http.StatusNotFound || gone.JSON404 == nil || gone.JSON404.Error.Code != apiclient.ErrorErrorCodeNotFound {
		t.Fatalf("after terminate: %d %s", gone.StatusCode(), gone.Body)
	}
	var strictErr apiclient.Error
	strictJSON(t, gone.Body, &strictErr)
}

func ptrTo[T any](v T) *T { return &v }

func deref[T any](p *T) T {
	var zero T
	if p == nil {
		return zero
	}
	return *p
}
