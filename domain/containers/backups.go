package containers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/backup"
	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
	"github.com/ctpanel/ctpanel/ops"
)

// TargetView is a backup target as both front ends show it (never its
// repository password).
type TargetView struct {
	Name      string    `json:"name"`
	Kind      string    `json:"kind"`
	Path      string    `json:"path"`
	Host      string    `json:"host,omitempty"`
	Port      int       `json:"port,omitempty"`
	User      string    `json:"user,omitempty"`
	HostKey   string    `json:"host_key,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

func targetView(t db.BackupTarget) TargetView {
	v := TargetView{Name: t.Name, Kind: t.Kind, Path: t.Path, CreatedAt: t.CreatedAt}
	if t.Kind == "sftp" {
		v.Host, v.Port, v.User, v.HostKey = t.Host, t.Port, t.Username, t.HostKey
	}
	return v
}

// TargetInput is a new target; Host to HostKey are an SFTP target's.
type TargetInput struct {
	Name, Kind, Path string
	Host             string
	Port             int
	User             string
	PrivateKey       string
	HostKey          string
}

var (
	sshUser    = regexp.MustCompile(`^[a-z_][a-z0-9_.-]{0,31}$`)
	sshHost    = regexp.MustCompile(`^[A-Za-z0-9.:-]{1,253}$`)
	sshHostKey = regexp.MustCompile(`^(ssh-ed25519|ecdsa-sha2-nistp(256|384|521)|ssh-rsa) [A-Za-z0-9+/]+=*$`)
)

// Targets lists the backup targets (staff).
func (s *Service) Targets(ctx context.Context, p db.Principal) ([]TargetView, error) {
	if err := policy.RequireStaff(p); err != nil {
		return nil, err
	}
	list, err := s.Store.ListTargets(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]TargetView, 0, len(list))
	for _, t := range list {
		if t.Name != SnapshotTarget {
			out = append(out, targetView(t))
		}
	}
	return out, nil
}

// CreateTarget adds a backup target (staff): a folder on this host (a
// mounted disk or share: not the containers' own disk) that a restic
// repository, encrypted with a password the panel makes, is kept in.
func (s *Service) CreateTarget(ctx context.Context, p db.Principal, in TargetInput) (TargetView, error) {
	if err := policy.RequireOperator(p); err != nil {
		return TargetView{}, err
	}
	f := domain.FieldErrors{}
	policy.CheckName(f, "name", in.Name)
	if strings.HasPrefix(in.Name, "_") {
		f.Add("name", "names starting with _ are the panel's own")
	}
	switch in.Kind {
	case "dir":
		switch {
		case in.Path == "" || !filepath.IsAbs(in.Path) || filepath.Clean(in.Path) != in.Path:
			f.Add("path", "must be an absolute, clean path such as /srv/backups")
		case in.Path == "/" || strings.HasPrefix(in.Path, "/proc") || strings.HasPrefix(in.Path, "/sys") || strings.HasPrefix(in.Path, "/dev"):
			f.Add("path", "must be a folder of its own, not / or a kernel file system")
		}
	case "sftp":
		if in.Path == "" || !strings.HasPrefix(in.Path, "/") || strings.ContainsAny(in.Path, " '\"\\") {
			f.Add("path", "must be an absolute path on the server, without spaces or quotes")
		}
		if !sshHost.MatchString(in.Host) || strings.HasPrefix(in.Host, "-") {
			f.Add("host", "must be a host name or IP address")
		}
		if in.Port == 0 {
			in.Port = 22
		}
		if in.Port < 1 || in.Port > 65535 {
			f.Add("port", "must be 1 to 65535")
		}
		if !sshUser.MatchString(in.User) {
			f.Add("user", "must be a login name (a-z, 0-9, _ . -)")
		}
		if !strings.Contains(in.PrivateKey, "PRIVATE KEY-----") {
			f.Add("private_key", "must be the login's private key (PEM or OpenSSH format), without a passphrase")
		}
		if !sshHostKey.MatchString(strings.TrimSpace(in.HostKey)) {
			f.Add("host_key", `must be the server's host key as in known_hosts: "ssh-ed25519 AAAA..." (ssh-keyscan shows it)`)
		}
	default:
		f.Add("kind", `must be "dir" or "sftp"`)
	}
	if err := f.Err(); err != nil {
		return TargetView{}, err
	}
	secret := make([]byte, 32)
	if _, err := rand.Read(secret); err != nil {
		return TargetView{}, err
	}
	t, err := s.Store.InsertTarget(ctx, db.BackupTarget{Name: in.Name, Kind: in.Kind, Path: in.Path, Host: in.Host, Port: in.Port,
		Username: in.User, PrivateKey: in.PrivateKey, HostKey: strings.TrimSpace(in.HostKey), RepoPassword: hex.EncodeToString(secret)})
	var ce *db.ConflictError
	if errors.As(err, &ce) {
		return TargetView{}, domain.ConflictField("name", "a backup target %q exists", in.Name)
	}
	if err != nil {
		return TargetView{}, err
	}
	s.audit(ctx, p, "backup_target.create", map[string]any{"name": in.Name, "kind": in.Kind, "path": in.Path, "host": in.Host})
	return targetView(t), nil
}

// DeleteTarget removes a target no backup is kept on (staff).
func (s *Service) DeleteTarget(ctx context.Context, p db.Principal, name string) error {
	if err := policy.RequireOperator(p); err != nil {
		return err
	}
	t, err := s.Store.GetTarget(ctx, name)
	if errors.Is(err, db.ErrNotFound) {
		return domain.NotFound("no backup target %q", name)
	}
	if err != nil {
		return err
	}
	err = s.Store.DeleteTarget(ctx, t.ID)
	if errors.Is(err, db.ErrInUse) {
		return domain.Conflict("backups are kept on target %q: delete them first", name)
	}
	if err == nil {
		s.audit(ctx, p, "backup_target.delete", map[string]any{"name": name})
	}
	return err
}

// BackupView is a backup as both front ends show it.
type BackupView struct {
	ID     string `json:"id"`
	CTID   int    `json:"ctid"`
	Target string `json:"target"`
	Status string `json:"status"`
	// SizeBytes is the container's files as read; StoredBytes what the
	// target grew by: new data after deduplication, before compression (restic 0.14 reports no packed size).
	SizeBytes   *int64          `json:"size_bytes"`
	StoredBytes *int64          `json:"stored_bytes"`
	FreezeMS    *int            `json:"freeze_ms"`
	Manifest    json.RawMessage `json:"manifest"`
	Error       string          `json:"error,omitempty"`
	// Progress (0 to 100) and BytesDone say how far a running backup is.
	Progress   float64    `json:"progress"`
	BytesDone  int64      `json:"bytes_done"`
	Protected  bool       `json:"protected"`
	CreatedAt  time.Time  `json:"created_at"`
	FinishedAt *time.Time `json:"finished_at"`
}

func backupView(b db.Backup) BackupView {
	return BackupView{ID: b.ID, CTID: b.CTID, Target: b.TargetName, Status: b.Status, SizeBytes: b.SizeBytes,
		StoredBytes: b.AddedBytes, FreezeMS: b.FreezeMS, Manifest: b.Manifest, Error: b.Error, Protected: b.Protected,
		Progress: b.Progress, BytesDone: b.BytesDone,
		CreatedAt: b.CreatedAt, FinishedAt: b.FinishedAt}
}

// manifest is what a backup records of its container beside the data.
type manifest struct {
	CTID        int             `json:"ctid"`
	Name        *string         `json:"name,omitempty"`
	Template    string          `json:"template"`
	Hostname    string          `json:"hostname"`
	Nameservers []string        `json:"nameservers"`
	Plan        *int64          `json:"plan_id,omitempty"`
	Limits      json.RawMessage `json:"limits"`
	IPAddresses []string        `json:"ip_addresses"`
	IDMapBase   *int64          `json:"idmap_base,omitempty"`
	// ImageVersion and GuestOS: what the container was made from and
	// what its first boot found.
	ImageVersion *string `json:"image_version,omitempty"`
	GuestOS      string  `json:"guest_os,omitempty"`
}

// CreateBackup backs the container ref up to target (its customer, or
// staff): 202 with the backup and its operation.
func (s *Service) CreateBackup(ctx context.Context, p db.Principal, ref, target string) (BackupView, db.Operation, error) {
	var view BackupView
	op, err := s.queueWith(ctx, p, ref, "container.backup", func(q *db.Queries, c db.Container) (ops.Action, map[string]any, error) {
		t, err := q.GetTarget(ctx, target)
		if err == nil && t.Name == SnapshotTarget {
			err = db.ErrNotFound // the snapshots' own: not a backup target
		}
		if errors.Is(err, db.ErrNotFound) {
			f := domain.FieldErrors{}
			f.Add("target", fmt.Sprintf("no backup target %q", target))
			return nil, nil, f.Err()
		}
		if err != nil {
			return nil, nil, err
		}
		pol, err := PlanBackupPolicy(ctx, q, c.PlanID)
		if err != nil {
			return nil, nil, err
		}
		if pol.Max != nil {
			n, err := q.CountBackups(ctx, c.CTID)
			if err != nil {
				return nil, nil, err
			}
			if *pol.Max == 0 || (n >= *pol.Max && !pol.Rotates()) {
				return nil, nil, domain.Conflict("container %d's plan keeps %d backup(s) and it has %d: delete one first", c.CTID, *pol.Max, n)
			}
		}
		if max := pol.MaxBytes; max != nil {
			held, err := q.StoredBytes(ctx, c.CTID, "backup")
			if err != nil {
				return nil, nil, err
			}
			if *max == 0 || (held >= *max && !pol.Rotates()) {
				return nil, nil, domain.Conflict("container %d's plan keeps %d bytes of backups and its backups hold %d: delete one first", c.CTID, *max, held)
			}
		}
		b := db.Backup{CTID: c.CTID, OwnerID: c.OwnerID, TargetID: t.ID, Manifest: manifestOf(c)}
		if b.ID, err = q.InsertBackup(ctx, b); err != nil {
			return nil, nil, err
		}
		got, err := q.GetBackup(ctx, b.ID)
		if err != nil {
			return nil, nil, err
		}
		view = backupView(got)
		return &ops.Backup{BackupID: b.ID}, map[string]any{"backup": b.ID, "target": target}, nil
	})
	return view, op, err
}

// restoreNew makes container ctid as the backup's manifest describes it
// (template, hostname, nameservers, plan, owner; no addresses: those
// stayed with the old container) and restores the backup into it, then
// starts it.
func (s *Service) restoreNew(ctx context.Context, p db.Principal, b db.Backup, ctid int) (db.Operation, error) {
	if err := policy.RequireStaff(p); err != nil {
		return db.Operation{}, err
	}
	var m manifest
	if err := json.Unmarshal(b.Manifest, &m); err != nil {
		return db.Operation{}, fmt.Errorf("backup %s: manifest: %w", b.ID, err)
	}
	in := CreateInput{CTID: &ctid, Template: m.Template, Hostname: m.Hostname, Nameservers: m.Nameservers}
	if m.Plan != nil {
		if pl, err := s.Store.GetPlanByID(ctx, *m.Plan); err == nil {
			in.Plan = pl.Name
		}
	}
	if b.OwnerID != nil {
		if name, err := s.Store.UsernameOf(ctx, *b.OwnerID); err == nil {
			in.Owner = name
		}
	}
	if _, err := s.Create(ctx, p, in); err != nil {
		return db.Operation{}, err
	}
	return s.queueWith(ctx, p, strconv.Itoa(ctid), "container.restore", func(q *db.Queries, c db.Container) (ops.Action, map[string]any, error) {
		return &ops.Restore{BackupID: b.ID, Start: true}, map[string]any{"backup": b.ID, "from_ctid": b.CTID}, nil
	})
}

// PlanBackupPolicy is the backup policy of plan id (none: nil).
func PlanBackupPolicy(ctx context.Context, q *db.Queries, id *int64) (backup.Policy, error) {
	var pol backup.Policy
	if id == nil {
		return pol, nil
	}
	pl, err := q.GetPlanByID(ctx, *id)
	if errors.Is(err, db.ErrNotFound) {
		return pol, nil
	}
	if err != nil {
		return pol, err
	}
	if len(pl.BackupPolicy) > 0 {
		if err := json.Unmarshal(pl.BackupPolicy, &pol); err != nil {
			return pol, fmt.Errorf("plan %s: backup policy: %w", pl.Name, err)
		}
	}
	return pol, nil
}

// ProtectBackup sets whether backup id is protected from retention and
// rotation (its customer, or staff).
func (s *Service) ProtectBackup(ctx context.Context, p db.Principal, id string, protected bool) (BackupView, error) {
	b, err := s.getBackup(ctx, p, id)
	if err != nil {
		return BackupView{}, err
	}
	if err := s.Store.SetBackupProtected(ctx, b.ID, protected); err != nil {
		return BackupView{}, err
	}
	b.Protected = protected
	s.audit(ctx, p, "backup.protect", map[string]any{"backup": b.ID, "protected": protected})
	return backupView(b), nil
}

// manifestOf is what a backup records of container c beside its files.
func manifestOf(c db.Container) json.RawMessage {
	m, _ := json.Marshal(manifest{CTID: c.CTID, Name: c.Name, Template: c.Template, Hostname: c.Hostname,
		Nameservers: c.Nameservers, Plan: c.PlanID, Limits: specOrEmptyJSON(c.Limits), IPAddresses: c.IPAddresses,
		ImageVersion: c.ImageVersion, GuestOS: c.GuestOS})
	return m
}

func specOrEmptyJSON(raw json.RawMessage) json.RawMessage {
	if len(raw) == 0 {
		return json.RawMessage(`{}`)
	}
	return raw
}

// Backups lists the container ref's backups, newest first.
func (s *Service) Backups(ctx context.Context, p db.Principal, ref string) ([]BackupView, error) {
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	list, err := s.Store.ListBackups(ctx, c.CTID, policy.OwnerScope(p))
	if err != nil {
		return nil, err
	}
	out := make([]BackupView, 0, len(list))
	for _, b := range list {
		out = append(out, backupView(b))
	}
	return out, nil
}

// getBackup finds backup id as p may see it: staff any, a customer their
// own; anything else is a 404.
func (s *Service) getBackup(ctx context.Context, p db.Principal, id string) (db.Backup, error) {
	b, err := s.Store.GetBackup(ctx, id)
	if err == nil {
		if scope := policy.OwnerScope(p); scope != nil && (b.OwnerID == nil || *b.OwnerID != *scope) {
			err = db.ErrNotFound
		}
	}
	if errors.Is(err, db.ErrNotFound) {
		return b, domain.NotFound("backup %s does not exist", strconv.Quote(id))
	}
	return b, err
}

// GetBackup is one backup.
func (s *Service) GetBackup(ctx context.Context, p db.Principal, id string) (BackupView, error) {
	b, err := s.getBackup(ctx, p, id)
	if err != nil {
		return BackupView{}, err
	}
	return backupView(b), nil
}

// DeleteBackup removes a finished backup and the data no other backup
// needs (restic forget --prune).
func (s *Service) DeleteBackup(ctx context.Context, p db.Principal, id string) error {
	b, err := s.getBackup(ctx, p, id)
	if err != nil {
		return err
	}
	if b.Status == db.BackupPending || b.Status == db.BackupRunning {
		return domain.Conflict("backup %s is %s; delete it once it has finished", b.ID, b.Status)
	}
	if b.SnapshotID != "" {
		t, err := s.Store.GetTargetByID(ctx, b.TargetID)
		if err != nil {
			return err
		}
		repo, done, err := backup.Open(ops.TargetOf(t))
		if err != nil {
			return err
		}
		defer done()
		if err := repo.Forget(ctx, true, b.SnapshotID); err != nil {
			return fmt.Errorf("delete backup %s: %w", b.ID, err)
		}
	}
	if err := s.Store.DeleteBackup(ctx, b.ID); err != nil {
		return err
	}
	s.audit(ctx, p, "backup.delete", map[string]any{"backup": b.ID, "ctid": b.CTID})
	return nil
}

// RestoreBackup puts backup id back into its container, in place (its
// customer, or staff), or with ctid into a new container (staff).
func (s *Service) RestoreBackup(ctx context.Context, p db.Principal, id string, ctid *int) (db.Operation, error) {
	b, err := s.getBackup(ctx, p, id)
	if err != nil {
		return db.Operation{}, err
	}
	if b.Status != db.BackupSucceeded {
		return db.Operation{}, domain.Conflict("backup %s is %s: only a finished backup can be restored", b.ID, b.Status)
	}
	if ctid != nil && *ctid != b.CTID {
		return s.restoreNew(ctx, p, b, *ctid)
	}
	return s.queueWith(ctx, p, strconv.Itoa(b.CTID), "container.restore", func(q *db.Queries, c db.Container) (ops.Action, map[string]any, error) {
		if c.SuspendedAt != nil && !p.IsStaff() {
			return nil, nil, suspendedErr(c)
		}
		return &ops.Restore{BackupID: b.ID}, map[string]any{"backup": b.ID}, nil
	})
}

func (s *Service) audit(ctx context.Context, p db.Principal, action string, details map[string]any) {
	domain.AuditOutside(ctx, s.Store, s.Log, p, action, details)
}
