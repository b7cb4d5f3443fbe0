// Command ctpanel is the container VPS control panel: `ctpanel serve` runs
// it; `migrate` and `token create` manage its database.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/server"
	"github.com/ctpanel/ctpanel/web"
)

const usage = `ctpanel: a control panel for container VPS hosting on LXC

usage:
  ctpanel serve [flags]                      run the panel and its REST API
  ctpanel migrate up|down|version [flags]    manage the database schema
  ctpanel token create --role ROLE --name NAME [--user USER] [--expires 720h] [flags]
                                             print a new API token (shown once)
  ctpanel image build|import|products|list   build and import OS images through the
                                             running panel (ctpanel image for help)

common flags (each also an environment variable):
`

func main() {
	if len(os.Args) < 2 {
		fmt.Fprint(os.Stderr, usage)
		printFlags()
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "migrate":
		err = migrateCmd(ctx, os.Args[2:])
	case "token":
		err = tokenCmd(ctx, os.Args[2:])
	case "image":
		err = imageCmd(ctx, os.Args[2:])
	case "help", "-h", "--help":
		fmt.Print(usage)
		printFlags()
		return
	default:
		err = fmt.Errorf("unknown command %q (try ctpanel help)", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "ctpanel:", err)
		os.Exit(1)
	}
}

func printFlags() {
	var cfg server.Config
	fs := flag.NewFlagSet("ctpanel", flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	fs.SetOutput(os.Stderr)
	fs.PrintDefaults()
}

func parse(name string, args []string, extra func(*flag.FlagSet)) (server.Config, *flag.FlagSet, error) {
	var cfg server.Config
	fs := flag.NewFlagSet("ctpanel "+name, flag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if extra != nil {
		extra(fs)
	}
	if err := fs.Parse(args); err != nil {
		return cfg, fs, err
	}
	return cfg, fs, cfg.Validate()
}

func serve(ctx context.Context, args []string) error {
	cfg, _, err := parse("serve", args, nil)
	if err != nil {
		return err
	}
	if err := web.CheckAssets(web.FS); err != nil {
		return err
	}
	log := cfg.NewLogger()
	if n, err := server.RaiseFileLimit(); err != nil {
		log.Warn("could not raise the open-file limit", "limit", n, "err", err)
	} else {
		log.Info("open-file limit", "limit", n)
	}
	app, err := server.Open(ctx, cfg, log, nil)
	if err != nil {
		return err
	}
	defer app.Close()
	secret, err := app.EnsureAdminToken(ctx)
	if err != nil {
		return err
	}
	if secret != "" {
		path := filepath.Join(cfg.DataDir, "admin-token")
		if err := os.MkdirAll(cfg.DataDir, 0o755); err == nil {
			_ = os.WriteFile(path, []byte(secret+"\n"), 0o600)
		}
		fmt.Printf("\nFirst start: an admin API token was created (also saved to %s, mode 0600):\n\n    %s\n\n", path, secret)
	}
	password, err := app.EnsureAdminUser(ctx)
	if err != nil {
		return err
	}
	if password != "" {
		path := filepath.Join(cfg.DataDir, "admin-password")
		if err := os.MkdirAll(cfg.DataDir, 0o755); err == nil {
			_ = os.WriteFile(path, []byte(password+"\n"), 0o600)
		}
		fmt.Printf("\nFirst start: web panel user %q was created with this password (also saved to %s, mode 0600):\n\n    %s\n\nSign in at http://%s/ and change it under Account.\n\n",
			server.FirstAdmin, path, password, cfg.Listen)
	}
	return app.Serve(ctx)
}

func migrateCmd(ctx context.Context, args []string) error {
	if len(args) < 1 {
		return errors.New("migrate needs up, down or version")
	}
	verb := args[0]
	cfg, _, err := parse("migrate", args[1:], nil)
	if err != nil {
		return err
	}
	pool, cluster, err := server.OpenDB(ctx, cfg, cfg.NewLogger())
	if err != nil {
		return err
	}
	defer cluster.Stop()
	defer pool.Close()
	switch verb {
	case "up":
		return db.MigrateUp(ctx, pool)
	case "down":
		return db.MigrateDown(ctx, pool)
	case "version":
		v, dirty, err := db.MigrationVersion(pool)
		if err != nil {
			return err
		}
		fmt.Printf("%d", v)
		if dirty {
			fmt.Print(" (dirty)")
		}
		fmt.Println()
		return nil
	}
	return fmt.Errorf("migrate: unknown verb %q: want up, down or version", verb)
}

func tokenCmd(ctx context.Context, args []string) error {
	if len(args) < 1 || args[0] != "create" {
		return errors.New("usage: ctpanel token create --role admin|staff|billing|customer --name NAME [--user USER] [--expires DURATION]")
	}
	var role, name, username string
	var expires time.Duration
	cfg, _, err := parse("token create", args[1:], func(fs *flag.FlagSet) {
		fs.StringVar(&role, "role", "", "admin, staff, billing or customer")
		fs.StringVar(&name, "name", "", "a name for the token, shown in the audit log")
		fs.StringVar(&username, "user", "", "the user the token acts as (required for customer tokens; created as a customer if missing)")
		fs.DurationVar(&expires, "expires", 0, "lifetime such as 720h; 0 never expires")
	})
	if err != nil {
		return err
	}
	switch role {
	case db.RoleAdmin, db.RoleStaff, db.RoleBilling, db.RoleCustomer:
	default:
		return fmt.Errorf("--role must be admin, staff, billing or customer, not %q", role)
	}
	if name == "" {
		return errors.New("--name is required")
	}
	if role == db.RoleCustomer && username == "" {
		return errors.New("a customer token needs --user")
	}
	if expires < 0 {
		return errors.New("--expires must not be negative")
	}
	pool, cluster, err := server.OpenDB(ctx, cfg, cfg.NewLogger())
	if err != nil {
		return err
	}
	defer cluster.Stop()
	defer pool.Close()
	if err := db.MigrateUp(ctx, pool); err != nil {
		return err
	}
	store := db.New(pool)
	var userID *int64
	if username != "" {
		u, err := store.GetUserByName(ctx, username)
		if errors.Is(err, db.ErrNotFound) {
			urole := db.RoleCustomer
			if role == db.RoleAdmin || role == db.RoleStaff {
				urole = role
			}
			u, err = store.CreateUser(ctx, username, "", urole)
		}
		if err != nil {
			return err
		}
		userID = &u.ID
	}
	var exp *time.Time
	if expires > 0 {
		t := time.Now().Add(expires)
		exp = &t
	}
	_, secret, err := store.CreateToken(ctx, name, role, userID, exp)
	if err != nil {
		return err
	}
	fmt.Println(secret)
	return nil
}
