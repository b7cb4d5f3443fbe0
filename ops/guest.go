package ops

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/guestos"
	"github.com/ctpanel/ctpanel/lxcdriver"
)

// driverFS is a container's root as guestos sees it: every read and write
// goes through the driver's in-root reader and writer.
type driverFS struct {
	ctx  context.Context
	drv  lxcdriver.Driver
	name string
}

func (f driverFS) ReadFile(p string) ([]byte, error) {
	reader, ok := f.drv.(lxcdriver.FileReader)
	if !ok {
		return nil, errors.New("driver cannot read files")
	}
	return reader.ReadFile(f.ctx, f.name, p)
}

func (f driverFS) WriteFile(p string, data []byte, perm uint32) error {
	return f.drv.WriteFile(f.ctx, f.name, p, data, perm)
}

// nameservers are the container's own, else those of the pools its
// addresses are from.
func (r *Runner) nameservers(ctx context.Context, c db.Container) ([]string, error) {
	if len(c.Nameservers) > 0 {
		return c.Nameservers, nil
	}
	pool, err := r.Store.PoolNameservers(ctx, c.CTID)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, a := range pool {
		out = append(out, a.String())
	}
	return out, nil
}

// guestConfig is what the guest's own files must say.
func (r *Runner) guestConfig(ctx context.Context, c db.Container) (guestos.Config, error) {
	cfg := guestos.Config{Hostname: hostnameOf(c), Interface: "eth0"}
	spec, err := r.netSpec(ctx, c.CTID)
	if err != nil {
		return cfg, err
	}
	cfg.Addresses, cfg.Gateway4, cfg.Gateway6 = spec.Guest()
	servers, err := r.nameservers(ctx, c)
	if err != nil {
		return cfg, err
	}
	for _, s := range servers {
		if a, err := netip.ParseAddr(s); err == nil {
			cfg.Nameservers = append(cfg.Nameservers, a)
		}
	}
	return cfg, nil
}

// setupGuest writes into a container what its guest is told. At first
// boot (create, reinstall, restore into a new CTID) it also resets the
// machine-id and makes SSH host keys of the container's own, and records
// the guest it found. A guest of a distribution the panel knows gets its
// hostname, /etc/hosts, resolver and network files (its interface then
// comes up from them, and liblxc leaves the addresses to it); any other
// gets only its hostname and resolver, liblxc configures its interface,
// and the note says so.
func (r *Runner) setupGuest(ctx context.Context, c db.Container, firstBoot bool) (note string, err error) {
	name := strconv.Itoa(c.CTID)
	fsys := driverFS{ctx: ctx, drv: r.Drv, name: name}
	o, derr := guestos.Detect(fsys)
	network := ""
	if derr == nil {
		network = o.Network
	} else if !errors.Is(derr, guestos.ErrUnknown) {
		return "", derr
	}
	if network != c.GuestNetwork || (firstBoot && o.String() != c.GuestOS) {
		guestOS := ""
		if derr == nil {
			guestOS = o.String()
		}
		if err := r.Store.SetContainerGuest(ctx, c.CTID, guestOS, network); err != nil {
			return "", err
		}
	}
	if derr != nil {
		if !r.ownTemplate(ctx, c) {
			note = fmt.Sprintf("%v: only the hostname, resolver and root's credentials were written; liblxc configures its network interface", derr)
		}
		return note, r.writeIdentity(ctx, c)
	}
	cfg, err := r.guestConfig(ctx, c)
	if err != nil {
		return "", err
	}
	res, err := guestos.Apply(fsys, o, cfg)
	if err != nil {
		return "", fmt.Errorf("set up %s: %w", o, err)
	}
	if firstBoot {
		fb, err := guestos.FirstBoot(fsys, "root@"+hostnameOf(c))
		if err != nil {
			return "", fmt.Errorf("first boot of %s: %w", o, err)
		}
		res.Skipped = append(res.Skipped, fb.Skipped...)
	}
	if len(res.Skipped) > 0 {
		note = "left alone, as .ctpanel-ignore files ask: " + strings.Join(res.Skipped, ", ")
	}
	return note, nil
}

// ownTemplate says whether c is made from liblxc's busybox script, the
// panel's own minimal image, which needs no note.
func (r *Runner) ownTemplate(ctx context.Context, c db.Container) bool {
	t, err := r.Store.GetTemplate(ctx, c.Template)
	return err == nil && t.Kind == "lxc"
}

// noteOp records an operation's note, if any.
func (r *Runner) noteOp(ctx context.Context, op db.Operation, note string) {
	if note == "" || op.ID == "" {
		return
	}
	if err := r.Store.SetOperationNote(ctx, op.ID, note); err != nil {
		r.Log.Warn("operation note", "op", op.ID, "err", err)
	}
}
