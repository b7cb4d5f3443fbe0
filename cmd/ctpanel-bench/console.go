package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/gorilla/websocket"

	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/lxcdriver/liblxc"
	"github.com/ctpanel/ctpanel/server"
)

// The console benchmark: keystroke-to-echo latency and bulk output
// throughput of a root shell in a busybox container, through the panel's
// shell websocket and through lxc-attach under a pty of our own (the
// liblxc driver's Shell, which is what the panel's websocket sits on),
// taking turns in the same run.

// consoleCTID is the benchmark's container, outside the lifecycle
// benchmark's CTID ranges.
const consoleCTID = 930000

// Console benchmark targets.
const (
	consoleEchoP99Target = 5 * time.Millisecond
	consoleRatioTarget   = 0.5
)

// consoleOptions are the console benchmark's flags.
type consoleOptions struct {
	samples int // echo round trips per path
	sizeMiB int // random data cat'ed (base64, so about 4/3 of it goes through)
	rounds  int // throughput runs per path
	lxcpath string
	json    bool
}

// registerConsoleFlags adds the console benchmark's flags to fs.
func registerConsoleFlags(fs *flag.FlagSet, o *consoleOptions) {
	fs.IntVar(&o.samples, "console-samples", 2000, "console benchmark: keystroke echo round trips per path")
	fs.IntVar(&o.sizeMiB, "console-size", 64, "console benchmark: MiB of random data the container cats (as base64)")
	fs.IntVar(&o.rounds, "console-rounds", 3, "console benchmark: throughput runs per path (the median is shown)")
}

// consoleResult is one path's numbers.
type consoleResult struct {
	EchoP50    time.Duration `json:"echo_p50_ns"`
	EchoP99    time.Duration `json:"echo_p99_ns"`
	EchoMean   time.Duration `json:"echo_mean_ns"`
	Bytes      int64         `json:"bytes"`
	Throughput float64       `json:"throughput_bytes_per_s"`
}

// runConsoleBench starts a panel with one busybox container and measures
// both paths. It removes what it made.
func runConsoleBench(ctx context.Context, o consoleOptions, out io.Writer) (err error) {
	log := slog.New(slog.NewTextHandler(os.Stderr, nil)).With("component", "console-bench")
	if o.samples < 10 || o.sizeMiB < 1 || o.rounds < 1 {
		return errors.New("-console-samples must be at least 10, -console-size and -console-rounds at least 1")
	}
	tmp, err := os.MkdirTemp("", "ctpanel-console-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	// The private PostgreSQL runs as the postgres user.
	if err := os.Chmod(tmp, 0o755); err != nil {
		return err
	}
	lxcpath := o.lxcpath
	if lxcpath == "" {
		lxcpath = filepath.Join(tmp, "lxc")
	}
	var cfg server.Config
	fs := flag.NewFlagSet("ctpanel", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		return err
	}
	cfg.DatabaseURL, cfg.DataDir, cfg.LXCPath, cfg.LogLevel = "", filepath.Join(tmp, "data"), lxcpath, "warn"
	cfg.SampleInterval = 0
	log.Info("starting ctpanel", "data_dir", cfg.DataDir, "lxcpath", lxcpath)
	app, err := server.Open(ctx, cfg, cfg.NewLogger(), nil)
	if err != nil {
		return fmt.Errorf("start ctpanel: %w", err)
	}
	defer app.Close()
	token, err := app.EnsureAdminToken(ctx)
	if err != nil || token == "" {
		return fmt.Errorf("admin token: %v", err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	sctx, stopServe := context.WithCancel(context.WithoutCancel(ctx))
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = app.ServeListener(sctx, ln)
	}()
	defer func() { stopServe(); <-served }()
	base := "http://" + ln.Addr().String()
	name := strconv.Itoa(consoleCTID)

	log.Info("creating the container", "ctid", consoleCTID)
	if err := apiOp(ctx, base, token, http.MethodPost, "/api/v1/containers",
		map[string]any{"ctid": consoleCTID, "template": "busybox", "start": true}); err != nil {
		return fmt.Errorf("create container: %w", err)
	}
	defer func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
		defer cancel()
		if derr := apiOp(dctx, base, token, http.MethodDelete, "/api/v1/containers/"+name+"?force=true", nil); derr != nil {
			err = errors.Join(err, fmt.Errorf("destroy the container: %w", derr))
		}
	}()
	log.Info("writing the data to cat", "mib", o.sizeMiB)
	if err := apiExec(ctx, base, token, name, fmt.Sprintf("head -c %d /dev/urandom | base64 > /root/big", o.sizeMiB<<20)); err != nil {
		return err
	}
	drv, err := liblxc.New(lxcpath)
	if err != nil {
		return err
	}

	wsPath := func() (termIO, error) {
		hdr := http.Header{"Authorization": {"Bearer " + token}}
		url := "ws" + strings.TrimPrefix(base, "http") + "/api/v1/containers/" + name + "/shell?cols=200&rows=50"
		conn, res, err := websocket.DefaultDialer.DialContext(ctx, url, hdr)
		if err != nil {
			return nil, fmt.Errorf("dial the shell websocket: %w (%v)", err, res)
		}
		return &wsTerm{conn: conn}, nil
	}
	attachPath := func() (termIO, error) {
		t, err := drv.Shell(ctx, name, 200, 50, nil)
		if err != nil {
			return nil, err
		}
		return &driverTerm{t: t}, nil
	}
	paths := []struct {
		name string
		open func() (termIO, error)
		res  consoleResult
		tput []float64
		echo []time.Duration
	}{{name: "websocket", open: wsPath}, {name: "lxc-attach", open: attachPath}}

	// Echo: both paths take turns, a quarter of the samples at a time.
	const turns = 4
	for turn := range turns {
		for i := range paths {
			p := &paths[i]
			if turn%2 == 1 {
				p = &paths[len(paths)-1-i]
			}
			n := (turn+1)*o.samples/turns - turn*o.samples/turns
			log.Info("echo latency", "path", p.name, "turn", turn+1, "samples", n)
			d, err := measureEcho(ctx, p.open, n)
			if err != nil {
				return fmt.Errorf("echo through %s: %w", p.name, err)
			}
			p.echo = append(p.echo, d...)
		}
	}
	for round := range o.rounds {
		for i := range paths {
			p := &paths[i]
			if round%2 == 1 {
				p = &paths[len(paths)-1-i]
			}
			log.Info("throughput", "path", p.name, "round", round+1)
			n, d, err := measureCat(ctx, p.open)
			if err != nil {
				return fmt.Errorf("cat through %s: %w", p.name, err)
			}
			p.res.Bytes = n
			p.tput = append(p.tput, float64(n)/d.Seconds())
		}
	}
	for i := range paths {
		p := &paths[i]
		slices.Sort(p.echo)
		var sum time.Duration
		for _, d := range p.echo {
			sum += d
		}
		p.res.EchoP50 = consolePercentile(p.echo, 0.50)
		p.res.EchoP99 = consolePercentile(p.echo, 0.99)
		p.res.EchoMean = sum / time.Duration(len(p.echo))
		slices.Sort(p.tput)
		p.res.Throughput = p.tput[len(p.tput)/2]
	}
	ws, raw := paths[0].res, paths[1].res
	ratio := ws.Throughput / raw.Throughput
	if o.json {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		return enc.Encode(map[string]any{"websocket": ws, "lxc_attach": raw, "throughput_ratio": ratio,
			"targets": map[string]any{"echo_p99_ns": consoleEchoP99Target, "throughput_ratio": consoleRatioTarget}})
	}
	verdict := func(ok bool) string {
		if ok {
			return "PASS"
		}
		return "MISS"
	}
	fmt.Fprintf(out, "\nConsole: a root shell in busybox container %d with a pty, %d echo round trips and %d cat runs per path\n\n",
		consoleCTID, o.samples, o.rounds)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "\twebsocket\tlxc-attach\tws/attach\ttarget\t")
	fmt.Fprintf(tw, "keystroke echo p50\t%s\t%s\t%.2f\t\t\n", consoleMS(ws.EchoP50), consoleMS(raw.EchoP50), float64(ws.EchoP50)/float64(raw.EchoP50))
	fmt.Fprintf(tw, "keystroke echo p99\t%s\t%s\t%.2f\tp99 < %s: %s\t\n", consoleMS(ws.EchoP99), consoleMS(raw.EchoP99), float64(ws.EchoP99)/float64(raw.EchoP99),
		consoleMS(consoleEchoP99Target), verdict(ws.EchoP99 < consoleEchoP99Target))
	fmt.Fprintf(tw, "cat %d MiB (base64, %.1f MB)\t%.0f MB/s\t%.0f MB/s\t%.2f\tratio ≥ %.1f: %s\t\n", o.sizeMiB, float64(ws.Bytes)/1e6,
		ws.Throughput/1e6, raw.Throughput/1e6, ratio, consoleRatioTarget, verdict(ratio >= consoleRatioTarget))
	return tw.Flush()
}

func consoleMS(d time.Duration) string {
	return fmt.Sprintf("%.3f ms", float64(d)/float64(time.Millisecond))
}

func consolePercentile(sorted []time.Duration, q float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := int(q*float64(len(sorted))+0.5) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}

// termIO is a terminal as the benchmark drives it: type, read output.
type termIO interface {
	write(p []byte) error
	// read returns the next chunk of output.
	read() ([]byte, error)
	close()
}

type wsTerm struct {
	conn *websocket.Conn
	buf  bytes.Buffer
}

func (w *wsTerm) write(p []byte) error { return w.conn.WriteMessage(websocket.BinaryMessage, p) }

// read returns the next binary frame, in a buffer it reuses (as a
// browser's socket would not allocate per frame either).
func (w *wsTerm) read() ([]byte, error) {
	for {
		kind, r, err := w.conn.NextReader()
		if err != nil {
			return nil, err
		}
		w.buf.Reset()
		if _, err := w.buf.ReadFrom(r); err != nil {
			return nil, err
		}
		if kind == websocket.BinaryMessage {
			return w.buf.Bytes(), nil
		}
	}
}

// close ends the shell: it would otherwise outlive the websocket.
func (w *wsTerm) close() {
	_ = w.write([]byte("\x03exit\r"))
	_ = w.conn.Close()
}

type driverTerm struct {
	t   lxcdriver.Terminal
	buf [64 << 10]byte
}

func (d *driverTerm) write(p []byte) error { _, err := d.t.Write(p); return err }

func (d *driverTerm) read() ([]byte, error) {
	n, err := d.t.Read(d.buf[:])
	if n > 0 {
		return d.buf[:n], nil
	}
	return nil, err
}

func (d *driverTerm) close() { _ = d.t.Close() }

// readUntil reads until the output holds marker; it returns how many
// bytes came.
func readUntil(t termIO, marker string, deadline time.Time) (int64, error) {
	var n int64
	var tail []byte
	for time.Now().Before(deadline) {
		b, err := t.read()
		if err != nil {
			return n, err
		}
		n += int64(len(b))
		tail = append(tail, b...)
		if bytes.Contains(tail, []byte(marker)) {
			return n, nil
		}
		if len(tail) > len(marker) {
			tail = append(tail[:0], tail[len(tail)-len(marker):]...)
		}
	}
	return n, fmt.Errorf("no %q in the output in time", marker)
}

// ready opens a shell and puts it in a known state: the prompt seen and
// a marker printed by the shell itself (typed text never holds it whole).
func ready(open func() (termIO, error), setup string) (termIO, error) {
	t, err := open()
	if err != nil {
		return nil, err
	}
	if err := t.write([]byte(setup + "; echo __RE''ADY__\r")); err != nil {
		t.close()
		return nil, err
	}
	if _, err := readUntil(t, "__READY__", time.Now().Add(30*time.Second)); err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

// measureEcho runs cat on a raw pty and times n one-byte round trips.
func measureEcho(ctx context.Context, open func() (termIO, error), n int) ([]time.Duration, error) {
	// Raw and without the tty's echo: what comes back is cat's copy.
	t, err := ready(open, "stty raw -echo isig")
	if err != nil {
		return nil, err
	}
	defer t.close()
	if err := t.write([]byte("cat\r")); err != nil {
		return nil, err
	}
	time.Sleep(100 * time.Millisecond) // for cat to start reading
	warm := 50
	out := make([]time.Duration, 0, n)
	for i := range n + warm {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		start := time.Now()
		if err := t.write([]byte{'x'}); err != nil {
			return nil, err
		}
		if _, err := readUntil(t, "x", time.Now().Add(10*time.Second)); err != nil {
			return nil, err
		}
		if i >= warm {
			out = append(out, time.Since(start))
		}
	}
	return out, nil
}

// measureCat times cat of the big file, from the command to the marker
// after it.
func measureCat(ctx context.Context, open func() (termIO, error)) (int64, time.Duration, error) {
	t, err := ready(open, "stty -echo")
	if err != nil {
		return 0, 0, err
	}
	defer t.close()
	start := time.Now()
	if err := t.write([]byte("cat /root/big; echo __DO''NE__\r")); err != nil {
		return 0, 0, err
	}
	n, err := readUntil(t, "__DONE__", time.Now().Add(10*time.Minute))
	return n, time.Since(start), err
}

// apiOp sends a request that answers with an operation and waits for it
// to succeed.
func apiOp(ctx context.Context, base, token, method, path string, body any) error {
	var op struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Error  string `json:"error"`
	}
	if err := apiCall(ctx, base, token, method, path, body, http.StatusAccepted, &op); err != nil {
		return err
	}
	for op.Status != "succeeded" {
		if op.Status == "failed" {
			return fmt.Errorf("operation %s failed: %s", op.ID, op.Error)
		}
		if err := apiCall(ctx, base, token, http.MethodGet, "/api/v1/operations/"+op.ID+"/wait?timeout=30", nil, http.StatusOK, &op); err != nil {
			return err
		}
	}
	return nil
}

func apiExec(ctx context.Context, base, token, name, script string) error {
	var res struct {
		ExitCode int    `json:"exit_code"`
		Stderr   string `json:"stderr"`
	}
	if err := apiCall(ctx, base, token, http.MethodPost, "/api/v1/containers/"+name+"/exec",
		map[string]any{"command": []string{"sh", "-c", script}, "timeout": 600}, http.StatusOK, &res); err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("exec %q: exit %d: %s", script, res.ExitCode, res.Stderr)
	}
	return nil
}

func apiCall(ctx context.Context, base, token, method, path string, body any, want int, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != want {
		return fmt.Errorf("%s %s: %d: %s", method, path, res.StatusCode, bytes.TrimSpace(raw))
	}
	return json.Unmarshal(raw, out)
}
