package handlers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// Exec limits.
const (
	maxExecArgs    = 256
	maxExecTimeout = 3600
	maxExecOutput  = 4 << 20
)

// ExecContainer is POST /api/v1/containers/{ref}/exec (vzctl exec): it runs
// one command in the running container and answers its stdout, stderr and
// exit code.
func (a *API) ExecContainer(w http.ResponseWriter, r *http.Request) {
	var req struct {
		Command []string          `json:"command"`
		Env     map[string]string `json:"env"`
		Cwd     string            `json:"cwd"`
		Stdin   string            `json:"stdin"`
		Timeout int               `json:"timeout"`
	}
	if err := decodeJSON(w, r, &req, false); err != nil {
		a.smartError(w, r, err)
		return
	}
	f := FieldErrors{}
	switch {
	case len(req.Command) == 0:
		f.Add("command", "is required: a list such as [\"uname\", \"-a\"]")
	case len(req.Command) > maxExecArgs:
		f.Add("command", fmt.Sprintf("at most %d arguments", maxExecArgs))
	case req.Command[0] == "":
		f.Add("command", "the program name must not be empty")
	}
	for _, arg := range req.Command {
		if strings.ContainsRune(arg, 0) {
			f.Add("command", "arguments must not contain NUL bytes")
		}
	}
	env := make([]string, 0, len(req.Env))
	for k, v := range req.Env {
		if k == "" || strings.ContainsAny(k, "=\x00") || strings.ContainsRune(v, 0) {
			f.Add("env", fmt.Sprintf("bad variable %q", k))
		}
		env = append(env, k+"="+v)
	}
	if req.Cwd != "" && !strings.HasPrefix(req.Cwd, "/") {
		f.Add("cwd", "must be an absolute path")
	}
	if req.Timeout < 0 || req.Timeout > maxExecTimeout {
		f.Add("timeout", fmt.Sprintf("must be 0 (default 60) to %d seconds", maxExecTimeout))
	}
	if err := f.Err(); err != nil {
		a.smartError(w, r, err)
		return
	}
	c, err := a.lookup(r)
	if err != nil {
		a.smartError(w, r, err)
		return
	}
	if c.Phase != db.PhaseReady {
		a.smartError(w, r, conflict("container %d is %s", c.CTID, c.Phase))
		return
	}
	timeout := 60 * time.Second
	if req.Timeout > 0 {
		timeout = time.Duration(req.Timeout) * time.Second
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	start := time.Now()
	res, err := a.Drv.Exec(ctx, strconv.Itoa(c.CTID), req.Command,
		lxcdriver.ExecOptions{Env: env, Cwd: req.Cwd, Stdin: []byte(req.Stdin)})
	if auditErr := a.audit(r, a.Store.Queries, "container.exec", c.CTID, map[string]any{
		"command": req.Command, "exit_code": res.ExitCode, "error": errString(err)}); auditErr != nil {
		a.Log.Warn("audit exec", "err", auditErr)
	}
	switch {
	case errors.Is(err, lxcdriver.ErrNotRunning):
		a.smartError(w, r, conflict("container %d is not running; start it first", c.CTID))
		return
	case errors.Is(err, lxcdriver.ErrFrozen):
		a.smartError(w, r, conflict("container %d is frozen; unfreeze it first", c.CTID))
		return
	case errors.Is(err, context.DeadlineExceeded):
		a.smartError(w, r, apiErr(http.StatusGatewayTimeout, "timeout", "command did not finish within %s", timeout))
		return
	case err != nil:
		a.smartError(w, r, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"stdout":      outputString(res.Stdout),
		"stderr":      outputString(res.Stderr),
		"exit_code":   res.ExitCode,
		"duration_ms": time.Since(start).Milliseconds(),
		"truncated":   len(res.Stdout) > maxExecOutput || len(res.Stderr) > maxExecOutput,
	})
}

// outputString caps output and makes it valid UTF-8 for JSON.
func outputString(b []byte) string {
	if len(b) > maxExecOutput {
		b = b[:maxExecOutput]
	}
	if utf8.Valid(b) {
		return string(b)
	}
	return strings.ToValidUTF8(string(b), "\uFFFD")
}

func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func isNotFound(err error) bool { return errors.Is(err, lxcdriver.ErrNotFound) }
