package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"
)

// stepTimeout bounds one step through the panel, request and wait.
const stepTimeout = 5 * time.Minute

// client speaks ctpanel's REST API with one bearer token.
type client struct {
	base  string
	token string
	hc    *http.Client
}

func newClient(base, token string, parallel int) *client {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	// Every worker keeps its connection: a new TCP handshake per step
	// would be the benchmark's cost, not the panel's.
	tr.MaxIdleConnsPerHost = 2 * parallel
	return &client{base: base, token: token, hc: &http.Client{Transport: tr}}
}

// operation is the part of the API's operation JSON the benchmark reads.
type operation struct {
	ID         string     `json:"id"`
	CTID       int        `json:"ctid"`
	Action     string     `json:"action"`
	Status     string     `json:"status"`
	Error      string     `json:"error"`
	StartedAt  *time.Time `json:"started_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

func (o operation) done() bool { return o.Status == "succeeded" || o.Status == "failed" }

// call sends one request and decodes the answer into out, which must come
// with status want.
func (c *client) call(ctx context.Context, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode != want {
		return fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(b))
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%s %s: decode answer: %w", method, path, err)
	}
	return nil
}

// op sends a request that queues an operation (202) and waits for the
// operation to finish; a failed operation is an error. The sample is the
// time from sending the request to reading the finished operation, split
// by the operation's own timestamps.
func (c *client) op(ctx context.Context, method, path string, body any) (sample, error) {
	ctx, cancel := context.WithTimeout(ctx, stepTimeout)
	defer cancel()
	t0 := time.Now()
	var op operation
	if err := c.call(ctx, method, path, body, http.StatusAccepted, &op); err != nil {
		return sample{}, err
	}
	answered := time.Now()
	for !op.done() {
		if err := c.call(ctx, http.MethodGet, "/api/v1/operations/"+op.ID+"/wait?timeout=60", nil, http.StatusOK, &op); err != nil {
			return sample{}, err
		}
	}
	t1 := time.Now()
	if op.Status == "failed" {
		return sample{}, fmt.Errorf("operation %s (%s on %d) failed: %s", op.ID, op.Action, op.CTID, op.Error)
	}
	s := sample{total: t1.Sub(t0)}
	if op.StartedAt != nil && op.FinishedAt != nil {
		// An action on an idle container is started by its request,
		// before the 202: it has no queue, and its run is counted from
		// the 202 so that no time is counted twice.
		started := *op.StartedAt
		if started.Before(answered) {
			started = answered
		}
		s.split = &split{
			op:       op.ID,
			answered: answered,
			request:  answered.Sub(t0),
			queue:    started.Sub(answered),
			run:      op.FinishedAt.Sub(started),
			notify:   t1.Sub(*op.FinishedAt),
		}
	}
	return s, nil
}
