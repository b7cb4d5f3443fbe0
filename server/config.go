// Package server wires ctpanel together: configuration from flags and the
// environment, logging, the database (an external one or the private
// embedded cluster), the liblxc driver, the River workers, start-up
// reconciliation, the router and graceful shutdown.
package server

import (
	"flag"
	"fmt"
	"log/slog"
	"net/netip"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/hostnet"
	"github.com/ctpanel/ctpanel/mail"
)

// Config is everything ctpanel can be told; flags win over environment
// variables, which win over defaults.
type Config struct {
	// NetNames name the host side of containers' networks (interfaces,
	// nftables table); zero is hostnet.DefaultNames. Tests give each
	// panel names of its own.
	NetNames hostnet.Names
	// netTag (CTPANEL_NET_TAG) names them after a tag instead, for a
	// second panel on one host (and the tests' panel processes).
	netTag      string
	Listen      string // CTPANEL_LISTEN
	DatabaseURL string // CTPANEL_DATABASE_URL; empty = private cluster in DataDir
	DataDir     string // CTPANEL_DATA_DIR
	LXCPath     string // CTPANEL_LXC_PATH; empty = liblxc's default
	LogLevel    string // CTPANEL_LOG_LEVEL: debug, info, warn, error
	// SampleInterval is how often beancounters are recorded
	// (CTPANEL_SAMPLE_INTERVAL, default 10s; 0 disables the sampler).
	SampleInterval time.Duration
	// HistoryRetention is how long samples are kept (CTPANEL_HISTORY_RETENTION).
	HistoryRetention time.Duration
	// TrafficInterval is how often traffic counters are folded into the
	// database (CTPANEL_TRAFFIC_INTERVAL, default 1m).
	TrafficInterval time.Duration
	// BackupConcurrency is how many backups run at once on this host
	// (CTPANEL_BACKUP_CONCURRENCY, default 2).
	BackupConcurrency int
	// ImageMirror is the Debian archive images are built from
	// (CTPANEL_IMAGE_MIRROR; default: the host's own apt source).
	ImageMirror string
	// AllowedOrigins may open websockets besides the panel's own origin
	// (CTPANEL_ALLOWED_ORIGINS, comma-separated).
	AllowedOrigins []string
	// PublicURLs are where users reach the panel (CTPANEL_PUBLIC_URL,
	// comma-separated; the first is used in links). Requests for any
	// other Host are refused; empty takes IP addresses and localhost.
	PublicURLs []string
	// WebhookAllowedNetworks may receive webhooks although they are
	// loopback, link-local or private (CTPANEL_WEBHOOK_ALLOWED_NETWORKS,
	// comma-separated CIDRs): a billing host on the LAN.
	WebhookAllowedNetworks []netip.Prefix
	// ConsoleIdleTimeout ends a console or shell session nobody has typed
	// into for that long (CTPANEL_CONSOLE_IDLE_TIMEOUT, default 30m).
	ConsoleIdleTimeout time.Duration
	// CookieSecure marks the web panel's session cookie Secure on plain
	// HTTP too, for TLS ending at a proxy (CTPANEL_COOKIE_SECURE).
	CookieSecure bool
	// webhookNetworks is WebhookAllowedNetworks as given, parsed by Validate.
	webhookNetworks string
	// AdminPassword is the first admin's web panel password
	// (CTPANEL_ADMIN_PASSWORD, no flag: command lines are visible to all);
	// empty makes a random one at first start.
	AdminPassword string
	// SMTP is the server the panel's mail goes through
	// (CTPANEL_SMTP_HOST, _PORT, _USER, _PASSWORD or _PASSWORD_FILE,
	// _FROM, _TLS; CTPANEL_ALERT_MAIL_TO). No host: mail is off. Links in
	// mails start with the first CTPANEL_PUBLIC_URL (else the Host of the
	// staff request that sent them).
	SMTP mail.Settings
	// smtpPort and smtpPasswordFile are as given, read by Validate.
	smtpPort, smtpPasswordFile string
}

// Defaults.
const (
	DefaultListen  = "127.0.0.1:8080"
	DefaultDataDir = "/var/lib/ctpanel"
)

func env(key, def string) string {
	if v, ok := os.LookupEnv(key); ok && v != "" {
		return v
	}
	return def
}

// RegisterFlags adds the common flags to fs, with environment defaults.
func (c *Config) RegisterFlags(fs *flag.FlagSet) {
	fs.StringVar(&c.Listen, "listen", env("CTPANEL_LISTEN", DefaultListen), "address:port to serve on (CTPANEL_LISTEN)")
	fs.StringVar(&c.DatabaseURL, "database-url", env("CTPANEL_DATABASE_URL", ""), "PostgreSQL URL; empty runs a private cluster under the data dir (CTPANEL_DATABASE_URL)")
	fs.StringVar(&c.DataDir, "data-dir", env("CTPANEL_DATA_DIR", DefaultDataDir), "state directory: private PostgreSQL, template cache (CTPANEL_DATA_DIR)")
	fs.StringVar(&c.LXCPath, "lxc-path", env("CTPANEL_LXC_PATH", ""), "liblxc lxcpath; empty is liblxc's default (CTPANEL_LXC_PATH)")
	fs.StringVar(&c.LogLevel, "log-level", env("CTPANEL_LOG_LEVEL", "info"), "debug, info, warn or error (CTPANEL_LOG_LEVEL)")
	fs.Func("sample-interval", "beancounter sampling interval, 0 disables (CTPANEL_SAMPLE_INTERVAL, default 10s)", durationFlag(&c.SampleInterval))
	fs.Func("traffic-interval", "how often traffic counters are folded into the database (CTPANEL_TRAFFIC_INTERVAL, default 1m)", durationFlag(&c.TrafficInterval))
	fs.Func("history-retention", "how long beancounter history is kept (CTPANEL_HISTORY_RETENTION, default 720h)", durationFlag(&c.HistoryRetention))
	fs.Func("allowed-origins", "comma-separated origins that may open websockets besides the panel's own (CTPANEL_ALLOWED_ORIGINS)", func(s string) error {
		c.AllowedOrigins = splitList(s)
		return nil
	})
	c.SampleInterval = envDuration("CTPANEL_SAMPLE_INTERVAL", 10*time.Second)
	c.HistoryRetention = envDuration("CTPANEL_HISTORY_RETENTION", 30*24*time.Hour)
	c.TrafficInterval = envDuration("CTPANEL_TRAFFIC_INTERVAL", time.Minute)
	if n, err := strconv.Atoi(env("CTPANEL_BACKUP_CONCURRENCY", "2")); err == nil {
		c.BackupConcurrency = n
	} else {
		c.BackupConcurrency = -1
	}
	c.AllowedOrigins = splitList(env("CTPANEL_ALLOWED_ORIGINS", ""))
	c.PublicURLs = splitList(env("CTPANEL_PUBLIC_URL", ""))
	fs.Func("public-url", "comma-separated URLs users reach the panel at, the first used in links; other Hosts are refused (CTPANEL_PUBLIC_URL)", func(s string) error {
		c.PublicURLs = splitList(s)
		return nil
	})
	c.webhookNetworks = env("CTPANEL_WEBHOOK_ALLOWED_NETWORKS", "")
	fs.StringVar(&c.webhookNetworks, "webhook-allowed-networks", c.webhookNetworks,
		"comma-separated CIDRs webhooks may reach although loopback, link-local or private (CTPANEL_WEBHOOK_ALLOWED_NETWORKS)")
	fs.Func("console-idle-timeout", "end console and shell sessions without input for this long (CTPANEL_CONSOLE_IDLE_TIMEOUT, default 30m)", durationFlag(&c.ConsoleIdleTimeout))
	c.ConsoleIdleTimeout = envDuration("CTPANEL_CONSOLE_IDLE_TIMEOUT", 30*time.Minute)
	c.CookieSecure = env("CTPANEL_COOKIE_SECURE", "") == "true"
	fs.BoolVar(&c.CookieSecure, "cookie-secure", c.CookieSecure, "mark the session cookie Secure even on plain HTTP, behind a TLS proxy (CTPANEL_COOKIE_SECURE)")
	c.AdminPassword = os.Getenv("CTPANEL_ADMIN_PASSWORD")
	fs.StringVar(&c.ImageMirror, "image-mirror", env("CTPANEL_IMAGE_MIRROR", ""),
		"Debian archive URL images are built from (CTPANEL_IMAGE_MIRROR; default: the host's own apt source)")
	c.netTag = env("CTPANEL_NET_TAG", "")

	fs.StringVar(&c.SMTP.Host, "smtp-host", env("CTPANEL_SMTP_HOST", ""), "SMTP server for the panel's mail; empty: no mail (CTPANEL_SMTP_HOST)")
	fs.StringVar(&c.smtpPort, "smtp-port", env("CTPANEL_SMTP_PORT", ""), "SMTP port (CTPANEL_SMTP_PORT; default 25, 587 or 465 by TLS mode)")
	fs.StringVar(&c.SMTP.Username, "smtp-user", env("CTPANEL_SMTP_USER", ""), "SMTP user name (CTPANEL_SMTP_USER)")
	c.SMTP.Password = os.Getenv("CTPANEL_SMTP_PASSWORD")
	fs.StringVar(&c.smtpPasswordFile, "smtp-password-file", env("CTPANEL_SMTP_PASSWORD_FILE", ""),
		"file holding the SMTP password (CTPANEL_SMTP_PASSWORD_FILE; or CTPANEL_SMTP_PASSWORD, no flag)")
	fs.StringVar(&c.SMTP.From, "smtp-from", env("CTPANEL_SMTP_FROM", ""), "sender address of the panel's mail, e.g. panel@example.com (CTPANEL_SMTP_FROM)")
	fs.StringVar(&c.SMTP.TLS, "smtp-tls", env("CTPANEL_SMTP_TLS", mail.TLSStartTLS), "none, starttls or tls (CTPANEL_SMTP_TLS)")
	c.SMTP.AlertTo = splitList(env("CTPANEL_ALERT_MAIL_TO", ""))
	fs.Func("alert-mail-to", "comma-separated addresses failcnt alerts are mailed to; default: staff accounts with an e-mail address (CTPANEL_ALERT_MAIL_TO)", func(s string) error {
		c.SMTP.AlertTo = splitList(s)
		return nil
	})
}

func durationFlag(dst *time.Duration) func(string) error {
	return func(s string) error {
		d, err := time.ParseDuration(s)
		if err != nil || d < 0 {
			return fmt.Errorf("want a duration such as 10s or 720h")
		}
		*dst = d
		return nil
	}
}

// envDuration reads a duration variable; a bad one is reported by Validate.
func envDuration(key string, def time.Duration) time.Duration {
	s := env(key, "")
	if s == "" {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return -1
	}
	return d
}

func splitList(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

var netTag = regexp.MustCompile(`^[a-z0-9]{1,4}$`)

// Validate checks values a typo would break.
func (c *Config) Validate() error {
	if _, err := parseLevel(c.LogLevel); err != nil {
		return err
	}
	for _, s := range splitList(c.webhookNetworks) {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return fmt.Errorf("config: webhook allowed networks: %q is not a CIDR such as 10.1.0.0/16: %w", s, err)
		}
		c.WebhookAllowedNetworks = append(c.WebhookAllowedNetworks, p.Masked())
	}
	c.webhookNetworks = ""
	if c.netTag != "" {
		if !netTag.MatchString(c.netTag) {
			return fmt.Errorf("config: CTPANEL_NET_TAG must be 1 to 4 of a-z and 0-9, not %q", c.netTag)
		}
		c.NetNames = hostnet.TaggedNames(c.netTag)
	}
	if c.DataDir == "" || !filepath.IsAbs(c.DataDir) {
		return fmt.Errorf("config: data dir must be an absolute path, not %q", c.DataDir)
	}
	if c.BackupConcurrency < 0 || c.BackupConcurrency > 64 {
		return fmt.Errorf("config: CTPANEL_BACKUP_CONCURRENCY must be 1 to 64 (0: the default, 2)")
	}
	if c.TrafficInterval < time.Second {
		return fmt.Errorf("config: traffic interval must be at least 1s")
	}
	if c.SampleInterval < 0 || (c.SampleInterval > 0 && c.SampleInterval < time.Second) {
		return fmt.Errorf("config: sample interval must be 0 (off) or at least 1s")
	}
	if c.HistoryRetention < 0 {
		return fmt.Errorf("config: history retention must be a duration such as 720h")
	}
	if c.ConsoleIdleTimeout < 0 {
		return fmt.Errorf("config: console idle timeout must be a duration such as 30m")
	}
	if c.LXCPath != "" && !filepath.IsAbs(c.LXCPath) {
		return fmt.Errorf("config: lxc path must be an absolute path, not %q", c.LXCPath)
	}
	return c.validateSMTP()
}

// validateSMTP reads the SMTP port and password file and checks the mail
// settings.
func (c *Config) validateSMTP() error {
	if c.smtpPort != "" {
		n, err := strconv.Atoi(c.smtpPort)
		if err != nil {
			return fmt.Errorf("config: CTPANEL_SMTP_PORT %q: want a port number such as 587", c.smtpPort)
		}
		c.SMTP.Port, c.smtpPort = n, ""
	}
	if c.smtpPasswordFile != "" {
		if c.SMTP.Password != "" {
			return fmt.Errorf("config: set CTPANEL_SMTP_PASSWORD or CTPANEL_SMTP_PASSWORD_FILE, not both")
		}
		pw, err := mail.ReadPasswordFile(c.smtpPasswordFile)
		if err != nil {
			return err
		}
		c.SMTP.Password, c.smtpPasswordFile = pw, ""
	}
	if c.SMTP.Host == "" && c.SMTP.TLS == mail.TLSStartTLS {
		c.SMTP.TLS = "" // the default, not a setting given
	}
	return c.SMTP.Validate()
}

// TemplateCacheDir holds tar.gz OS templates, like /var/lib/vz/template/cache.
func (c *Config) TemplateCacheDir() string {
	return filepath.Join(c.DataDir, "templates", "cache")
}

func parseLevel(s string) (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToLower(s))); err != nil {
		return l, fmt.Errorf("config: log level %q: want debug, info, warn or error", s)
	}
	return l, nil
}

// NewLogger makes the process logger at the configured level.
func (c *Config) NewLogger() *slog.Logger {
	l, _ := parseLevel(c.LogLevel)
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}
