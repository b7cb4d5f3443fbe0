package ops

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/hostnet"
	"github.com/ctpanel/ctpanel/lxcdriver"
	"github.com/ctpanel/ctpanel/ubc"
)

// What several actions do to a container: make it, write its identity,
// limits and credentials, remove it.

// credentials are root's password hash and SSH keys to write.
type credentials struct {
	RootHash string
	SSHKeys  []string
}

// specOf decodes a container's stored limits, empty when they don't.
func specOf(c db.Container) ubc.Spec {
	spec, _ := ubc.Decode(c.Limits)
	return spec
}

// diskOf is the loop filesystem a container's diskspace asks for.
func diskOf(c db.Container) *lxcdriver.DiskOptions {
	if size, ok := specOf(c).DiskBytes(); ok {
		return &lxcdriver.DiskOptions{SizeBytes: size}
	}
	return nil
}

// idmapOf is the block of host ids a container runs as; nil while it is a
// privileged container made before every container was unprivileged.
func idmapOf(c db.Container) *lxcdriver.IDMap {
	if c.Privileged || c.IDMapBase == nil {
		return nil
	}
	return &lxcdriver.IDMap{HostID: uint32(*c.IDMapBase), Size: db.IDMapSize}
}

// applyDisk resizes the container's filesystem to its diskspace, when that
// changed.
func (r *Runner) applyDisk(ctx context.Context, c db.Container) error {
	size, ok := specOf(c).DiskBytes()
	if !ok {
		return nil
	}
	name := strconv.Itoa(c.CTID)
	du, err := r.Drv.DiskUsage(ctx, name)
	if err != nil {
		return err
	}
	if !du.Loop {
		return fmt.Errorf("container %d has no disk of its own: %w", c.CTID, lxcdriver.ErrNoDisk)
	}
	if du.SizeBytes == size {
		return nil
	}
	return r.Drv.Resize(ctx, name, size)
}

// applyLimits sets a container's stored limits in liblxc (saved in its
// config, live when it runs).
func (r *Runner) applyLimits(ctx context.Context, c db.Container) error {
	spec, err := ubc.Decode(c.Limits)
	if err != nil {
		return fmt.Errorf("container %d: %w", c.CTID, err)
	}
	if spec.Empty() {
		return nil
	}
	return r.Drv.SetLimits(ctx, strconv.Itoa(c.CTID), spec.ToDriver())
}

// baseConfig is the liblxc config every ctpanel container gets: no network
// until the networking issue gives it one, and its hostname.
func baseConfig(c db.Container) []lxcdriver.ConfigItem {
	return []lxcdriver.ConfigItem{
		{Key: "lxc.net.0.type", Value: "empty"},
		{Key: "lxc.uts.name", Value: hostnameOf(c)},
	}
}

func hostnameOf(c db.Container) string {
	if c.Hostname != "" {
		return c.Hostname
	}
	if c.Name != nil {
		return *c.Name
	}
	return strconv.Itoa(c.CTID)
}

// makeContainer makes the container of a create or clone operation with
// build, then its identity, limits and credentials, and starts it when
// start. It is safe to run again after a crash: a leftover from an
// interrupted run is removed first. On failure everything it made is
// undone and the row removed.
func (r *Runner) makeContainer(ctx context.Context, op db.Operation, start bool, cred credentials, build func(db.Container) error) (err error) {
	c, err := r.Store.GetContainer(ctx, op.CTID)
	if errors.Is(err, db.ErrNotFound) {
		return fmt.Errorf("container %d was removed before it was created", op.CTID)
	}
	if err != nil {
		return err
	}
	name := strconv.Itoa(c.CTID)
	if c.Phase == db.PhaseReady { // finished by an earlier run of this job
		if start {
			return r.start(ctx, c.CTID)
		}
		return nil
	}
	if c.Phase != db.PhaseCreating {
		return fmt.Errorf("container %d is %s, not being created", c.CTID, c.Phase)
	}
	if err := removeContainer(ctx, r.Drv, name); err != nil {
		return err
	}
	defer func() {
		if err == nil {
			return
		}
		uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Minute)
		defer cancel()
		if uerr := removeContainer(uctx, r.Drv, name); uerr != nil {
			// Keep the row in phase creating: start-up reconciliation
			// tries the clean-up again.
			r.Log.Error("undo of a failed create", "ctid", c.CTID, "err", uerr)
			return
		}
		derr := r.Store.DeleteContainer(uctx, c.CTID)
		if derr != nil && db.IsUnavailable(derr) {
			// The database is gone for now (a restart of the private
			// cluster): the row goes once it is back, so a failed
			// create never leaves a row in creating behind.
			derr = r.retryUnavailable(ctx, func(ctx context.Context) error { return r.Store.DeleteContainer(ctx, c.CTID) })
		}
		if derr != nil {
			r.Log.Error("remove row of a failed create", "ctid", c.CTID, "err", derr)
		}
	}()

	if err := build(c); err != nil {
		return err
	}
	note, err := r.setupGuest(ctx, c, true)
	if err != nil {
		return err
	}
	r.noteOp(ctx, op, note)
	if err := r.applyLimits(ctx, c); err != nil {
		return err
	}
	if err := r.writeCredentials(ctx, c, cred); err != nil {
		return err
	}
	if start {
		if err := r.start(ctx, c.CTID); err != nil {
			return err
		}
	}
	return r.Store.SetContainerPhase(ctx, c.CTID, db.PhaseReady)
}

// createOptions are the driver's options for c's rootfs from its
// template: version (of a template with versions) is the image version
// asked for, the newest when empty; the one used is returned (nil for a
// template without versions).
func (r *Runner) createOptions(ctx context.Context, c db.Container, version string) (lxcdriver.CreateOptions, *string, error) {
	t, err := r.Store.GetTemplate(ctx, c.Template)
	if err != nil {
		return lxcdriver.CreateOptions{}, nil, fmt.Errorf("template %q: %w", c.Template, err)
	}
	if !t.Enabled {
		return lxcdriver.CreateOptions{}, nil, fmt.Errorf("template %q has been disabled", c.Template)
	}
	opts := lxcdriver.CreateOptions{Config: baseConfig(c), Disk: diskOf(c), IDMap: idmapOf(c)}
	switch {
	case t.Kind == "lxc":
		opts.Template = t.Source
	case t.Kind == "tarball" && t.Source != "":
		if version != "" {
			return opts, nil, fmt.Errorf("template %q has no versions: it is a single file", c.Template)
		}
		opts.RootfsTarball = filepath.Join(r.TemplateCacheDir, filepath.Base(t.Source))
	case t.Kind == "tarball":
		v, err := r.Store.ImageVersion(ctx, c.Template, version)
		if errors.Is(err, db.ErrNotFound) {
			return opts, nil, fmt.Errorf("image %q has no version %q", c.Template, version)
		}
		if err != nil {
			return opts, nil, err
		}
		opts.RootfsTarball = filepath.Join(r.TemplateCacheDir, "images", filepath.FromSlash(v.File))
		return opts, &v.Version, nil
	default:
		return opts, nil, fmt.Errorf("template %q has unknown kind %q", t.Name, t.Kind)
	}
	return opts, nil, nil
}

// writeIdentity writes the hostname and resolver into the container's
// filesystem, as vzctl set --hostname --nameserver --save does.
func (r *Runner) writeIdentity(ctx context.Context, c db.Container) error {
	name := strconv.Itoa(c.CTID)
	if err := r.Drv.WriteFile(ctx, name, "/etc/hostname", []byte(hostnameOf(c)+"\n"), 0o644); err != nil {
		return fmt.Errorf("write hostname: %w", err)
	}
	return r.writeResolver(ctx, c)
}

// writeResolver writes resolv.conf from the container's own nameservers,
// else from those of the pools its addresses are from; with neither it
// leaves the file as the image has it.
func (r *Runner) writeResolver(ctx context.Context, c db.Container) error {
	servers, err := r.nameservers(ctx, c)
	if err != nil {
		return err
	}
	if len(servers) == 0 {
		return nil
	}
	var b strings.Builder
	for _, ns := range servers {
		b.WriteString("nameserver " + ns + "\n")
	}
	if err := r.Drv.WriteFile(ctx, strconv.Itoa(c.CTID), "/etc/resolv.conf", []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write resolv.conf: %w", err)
	}
	return nil
}

// writeCredentials sets root's password hash in /etc/shadow (other accounts
// kept) and root's authorized SSH keys, when the operation carries them.
func (r *Runner) writeCredentials(ctx context.Context, c db.Container, p credentials) error {
	name := strconv.Itoa(c.CTID)
	if p.RootHash != "" {
		reader, ok := r.Drv.(lxcdriver.FileReader)
		if !ok {
			return errors.New("driver cannot read files")
		}
		old, err := reader.ReadFile(ctx, name, "/etc/shadow")
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("read /etc/shadow: %w", err)
		}
		days := strconv.FormatInt(time.Now().Unix()/86400, 10)
		rootLine := "root:" + p.RootHash + ":" + days + ":0:99999:7:::"
		var lines []string
		found := false
		for _, l := range strings.Split(strings.TrimRight(string(old), "\n"), "\n") {
			if l == "" {
				continue
			}
			if strings.HasPrefix(l, "root:") {
				l, found = rootLine, true
			}
			lines = append(lines, l)
		}
		if !found {
			lines = append([]string{rootLine}, lines...)
		}
		if err := r.Drv.WriteFile(ctx, name, "/etc/shadow", []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
			return fmt.Errorf("write /etc/shadow: %w", err)
		}
	}
	if len(p.SSHKeys) > 0 {
		keys := strings.Join(p.SSHKeys, "\n") + "\n"
		if err := r.Drv.WriteFile(ctx, name, "/root/.ssh/authorized_keys", []byte(keys), 0o600); err != nil {
			return fmt.Errorf("write authorized_keys: %w", err)
		}
	}
	return nil
}

func removeContainer(ctx context.Context, drv lxcdriver.Driver, name string) error {
	if _, err := drv.State(ctx, name); errors.Is(err, lxcdriver.ErrNotFound) {
		// No container, but the driver may hold a half-made one (a
		// folder without config after a crash): Destroy removes it.
		if err := drv.Destroy(ctx, name); err != nil && !errors.Is(err, lxcdriver.ErrNotFound) {
			return err
		}
		return nil
	}
	if err := drv.Stop(ctx, name); err != nil && !errors.Is(err, lxcdriver.ErrNotFound) {
		return err
	}
	if err := drv.Destroy(ctx, name); err != nil && !errors.Is(err, lxcdriver.ErrNotFound) {
		return err
	}
	return nil
}

// netSpec is what the host side of ctid's interface must carry: its
// shares as the database holds them, with their pools' mode and its
// plan's rates.
func (r *Runner) netSpec(ctx context.Context, ctid int) (hostnet.Spec, error) {
	shares, err := r.Store.NetShares(ctx, ctid)
	if err != nil {
		return hostnet.Spec{}, err
	}
	specs := NetSpecs(shares)
	if len(specs) == 0 {
		return hostnet.Spec{CTID: ctid}, nil
	}
	return specs[0], nil
}

// NetSpecs groups shares (ordered by CTID) into each container's Spec.
// A container's shares in bridged pools make it bridged (into the first
// one's bridge: the domain keeps a container to one mode and bridge).
func NetSpecs(shares []db.NetShare) []hostnet.Spec {
	var out []hostnet.Spec
	for _, n := range shares {
		if len(out) == 0 || out[len(out)-1].CTID != n.CTID {
			s := hostnet.Spec{CTID: n.CTID}
			if n.RateInMbit != nil {
				s.RateIn = *n.RateInMbit
			}
			if n.RateOutMbit != nil {
				s.RateOut = *n.RateOutMbit
			}
			out = append(out, s)
		}
		s := &out[len(out)-1]
		s.Shares = append(s.Shares, n.Share)
		if n.Mode == db.ModeBridged {
			if s.Bridge == "" {
				s.Bridge = n.Bridge
			}
			nw := hostnet.Network{Prefix: n.PoolCIDR}
			if n.Gateway != nil {
				nw.Gateway = *n.Gateway
			}
			if !slices.Contains(s.Networks, nw) {
				s.Networks = append(s.Networks, nw)
			}
		}
	}
	return out
}

// start starts a container with its network: the host side made first
// (veth pair, routes, filter) and the container end given to liblxc for
// this start; a guest that configures its interface from its own files
// gets the interface without addresses.
func (r *Runner) start(ctx context.Context, ctid int) error {
	var items []lxcdriver.ConfigItem
	if r.Net != nil {
		spec, err := r.netSpec(ctx, ctid)
		if err != nil {
			return err
		}
		if items, err = r.Net.Up(ctx, spec); err != nil {
			return err
		}
		c, err := r.Store.GetContainer(ctx, ctid)
		if err != nil {
			return err
		}
		if c.GuestNetwork != "" {
			items = slices.DeleteFunc(items, func(it lxcdriver.ConfigItem) bool { return hostnet.AddressItem(it.Key) })
		}
	}
	return r.Drv.Start(ctx, strconv.Itoa(ctid), items...)
}

// applyNetwork makes a running container's interface carry its shares
// now; a stopped one gets them at its next start.
func (r *Runner) applyNetwork(ctx context.Context, ctid int) error {
	if r.Net == nil {
		return nil
	}
	spec, err := r.netSpec(ctx, ctid)
	if err != nil {
		return err
	}
	info, err := r.Drv.Info(ctx, strconv.Itoa(ctid))
	if err != nil {
		return err
	}
	if info.State != lxcdriver.StateRunning && info.State != lxcdriver.StateFrozen {
		// Its next start makes the interface; what its shares' counters
		// hold is folded in before they may go.
		return r.foldTraffic(ctx)
	}
	if err := r.foldTraffic(ctx); err != nil {
		return err
	}
	return r.Net.Live(ctx, spec, info.InitPID)
}
