package containers

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
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// Exec limits.
const (
	maxExecArgs    = 256
	maxExecTimeout = 3600
	maxExecOutput  = 4 << 20
)

// ExecInput is one command to run (vzctl exec).
type ExecInput struct {
	Command []string
	Env     map[string]string
	Cwd     string
	Stdin   string
	Timeout int
}

// ExecResult is what the command did.
type ExecResult struct {
	Stdout     string `json:"stdout"`
	Stderr     string `json:"stderr"`
	ExitCode   int    `json:"exit_code"`
	DurationMS int64  `json:"duration_ms"`
	Truncated  bool   `json:"truncated"`
}

// Exec runs one command in the running container ref and returns its
// output (capped at 4 MiB each) and exit code; every run is audited.
func (s *Service) Exec(ctx context.Context, p db.Principal, ref string, req ExecInput) (ExecResult, error) {
	if !policy.MayUseRoot(p) {
		return ExecResult{}, domain.Forbidden("a billing token cannot run commands in containers")
	}
	f := domain.FieldErrors{}
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
		return ExecResult{}, err
	}
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return ExecResult{}, err
	}
	if c.Phase != db.PhaseReady {
		return ExecResult{}, domain.Conflict("container %d is %s", c.CTID, c.Phase)
	}
	timeout := 60 * time.Second
	if req.Timeout > 0 {
		timeout = time.Duration(req.Timeout) * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	start := time.Now()
	res, err := s.Drv.Exec(ctx, strconv.Itoa(c.CTID), req.Command,
		lxcdriver.ExecOptions{Env: env, Cwd: req.Cwd, Stdin: []byte(req.Stdin)})
	if auditErr := domain.Audit(context.WithoutCancel(ctx), s.Store.Queries, p, "container.exec", &c.CTID, map[string]any{
		"command": req.Command, "exit_code": res.ExitCode, "error": errString(err)}); auditErr != nil {
		s.Log.Warn("audit exec", "err", auditErr)
	}
	switch {
	case errors.Is(err, lxcdriver.ErrNotRunning):
		return ExecResult{}, domain.Conflict("container %d is not running; start it first", c.CTID)
	case errors.Is(err, lxcdriver.ErrFrozen):
		return ExecResult{}, domain.Conflict("container %d is frozen; unfreeze it first", c.CTID)
	case errors.Is(err, context.DeadlineExceeded):
		return ExecResult{}, domain.Errorf(http.StatusGatewayTimeout, "timeout", "command did not finish within %s", timeout)
	case err != nil:
		return ExecResult{}, err
	}
	return ExecResult{
		Stdout:     outputString(res.Stdout),
		Stderr:     outputString(res.Stderr),
		ExitCode:   res.ExitCode,
		DurationMS: time.Since(start).Milliseconds(),
		Truncated:  len(res.Stdout) > maxExecOutput || len(res.Stderr) > maxExecOutput,
	}, nil
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
