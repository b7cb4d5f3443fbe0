package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"

	"github.com/ctpanel/ctpanel/hostnet"
	"github.com/ctpanel/ctpanel/server"
)

// benchPanel is a panel started in-process for one benchmark: a private
// PostgreSQL and lxcpath under dir, its host network objects tagged tag,
// the API served on a loopback port, and a client with the admin token.
type benchPanel struct {
	app   *server.App
	cfg   server.Config
	c     *client
	close func()
}

func startBenchPanel(ctx context.Context, dir, tag string) (*benchPanel, error) {
	var cfg server.Config
	fs := flag.NewFlagSet("ctpanel", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse(nil); err != nil {
		return nil, err
	}
	cfg.DatabaseURL, cfg.DataDir, cfg.LXCPath, cfg.LogLevel = "", filepath.Join(dir, "data"), filepath.Join(dir, "lxc-panel"), "warn"
	cfg.SampleInterval, cfg.NetNames = 0, hostnet.TaggedNames(tag)
	app, err := server.Open(ctx, cfg, cfg.NewLogger(), nil)
	if err != nil {
		return nil, fmt.Errorf("start ctpanel: %w", err)
	}
	token, err := app.EnsureAdminToken(ctx)
	if err != nil {
		app.Close()
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		app.Close()
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = app.ServeListener(sctx, ln)
	}()
	return &benchPanel{app: app, cfg: cfg, c: newClient("http://"+ln.Addr().String(), token, 1), close: func() {
		stop()
		<-done
		app.Close()
	}}, nil
}

// startTempBenchPanel is startBenchPanel in a temporary folder of its own
// (readable by the private PostgreSQL, which runs as postgres); close
// stops the panel and removes the folder.
func startTempBenchPanel(ctx context.Context, pattern, tag string) (bp *benchPanel, dir string, close func(), err error) {
	dir, err = os.MkdirTemp("", pattern)
	if err != nil {
		return nil, "", nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, err
	}
	bp, err = startBenchPanel(ctx, dir, tag)
	if err != nil {
		os.RemoveAll(dir)
		return nil, "", nil, err
	}
	return bp, dir, func() { bp.close(); os.RemoveAll(dir) }, nil
}
