// Package networks is the domain of IP pools: the IPv4 ranges and IPv6
// prefixes containers' addresses are given from (staff only). Addresses
// on containers are the containers domain's (domain/containers).
package networks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/big"
	"net/netip"
	"regexp"
	"time"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/domain/policy"
)

var bridgeName = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,15}$`)

// Service is the IP pools domain.
type Service struct {
	Store *db.Store
	Log   *slog.Logger
}

// PoolView is a pool as both front ends show it.
type PoolView struct {
	ID          int64    `json:"id"`
	Name        string   `json:"name"`
	CIDR        string   `json:"cidr"`
	Family      int      `json:"family"`
	Mode        string   `json:"mode"`
	Bridge      string   `json:"bridge"`
	Gateway     *string  `json:"gateway"`
	Nameservers []string `json:"nameservers"`
	// SharePrefix is one container's share: 32, 128 or 64.
	SharePrefix int  `json:"share_prefix"`
	Default     bool `json:"default"`
	// Shares is how many shares the pool holds (a decimal string: an
	// IPv6 pool's can pass 2^64), Used how many are given or reserved.
	Shares    string    `json:"shares"`
	Used      int       `json:"used"`
	CreatedAt time.Time `json:"created_at"`
}

// ViewOf is a pool's view.
func ViewOf(p db.IPPool) PoolView {
	v := PoolView{ID: p.ID, Name: p.Name, CIDR: p.CIDR.String(), Family: 4, Mode: p.Mode, Bridge: p.Bridge,
		Nameservers: []string{}, SharePrefix: p.SharePrefix, Default: p.Default, Used: p.Used, CreatedAt: p.CreatedAt}
	if p.CIDR.Addr().Is6() {
		v.Family = 6
	}
	if p.Gateway != nil {
		g := p.Gateway.String()
		v.Gateway = &g
	}
	for _, ns := range p.Nameservers {
		v.Nameservers = append(v.Nameservers, ns.String())
	}
	v.Shares = Capacity(p).String()
	return v
}

// Capacity is how many shares a pool can give: its shares less the
// IPv4 network and broadcast addresses and the gateway's share.
func Capacity(p db.IPPool) *big.Int {
	n := new(big.Int).Lsh(big.NewInt(1), uint(p.SharePrefix-p.CIDR.Bits()))
	if p.CIDR.Addr().Is4() && p.CIDR.Bits() <= 30 {
		n.Sub(n, big.NewInt(2))
	}
	if p.Gateway != nil {
		n.Sub(n, big.NewInt(1))
	}
	if n.Sign() < 0 {
		n.SetInt64(0)
	}
	return n
}

// PoolInput is a pool's fields as given; nil keeps (update) or defaults
// (create). Gateway "" clears it.
type PoolInput struct {
	Name        *string
	CIDR        *string
	Mode        *string
	Bridge      *string
	Gateway     *string
	Nameservers *[]string
	SharePrefix *int
	Default     *bool
}

// List is every pool.
func (s *Service) List(ctx context.Context, p db.Principal) ([]PoolView, error) {
	if err := policy.RequireStaff(p); err != nil {
		return nil, err
	}
	pools, err := s.Store.ListPools(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]PoolView, 0, len(pools))
	for _, pl := range pools {
		out = append(out, ViewOf(pl))
	}
	return out, nil
}

// Get is one pool.
func (s *Service) Get(ctx context.Context, p db.Principal, id int64) (PoolView, error) {
	if err := policy.RequireStaff(p); err != nil {
		return PoolView{}, err
	}
	pl, err := s.Store.GetPool(ctx, id, false)
	if errors.Is(err, db.ErrNotFound) {
		return PoolView{}, domain.NotFound("no IP pool %d", id)
	}
	if err != nil {
		return PoolView{}, err
	}
	return ViewOf(pl), nil
}

var poolName = regexp.MustCompile(`^[a-z0-9][a-z0-9._-]{0,62}$`)

// check validates in over base (the pool as it is, or the defaults).
func check(in PoolInput, base db.IPPool, create bool) (db.IPPool, error) {
	f := domain.FieldErrors{}
	pl := base
	if in.Name != nil {
		pl.Name = *in.Name
	}
	if !poolName.MatchString(pl.Name) {
		f.Add("name", "must be 1 to 63 of a-z, 0-9, '.', '_' and '-', starting with a letter or digit")
	}
	if create {
		switch {
		case in.CIDR == nil || *in.CIDR == "":
			f.Add("cidr", "is required: an IPv4 range or IPv6 prefix such as 198.18.0.0/24")
		default:
			pr, err := netip.ParsePrefix(*in.CIDR)
			switch {
			case err != nil:
				f.Add("cidr", "is not an address range in CIDR form such as 198.18.0.0/24 or 2001:db8::/48")
			case pr.Addr().Zone() != "" || pr.Addr().Is4In6():
				f.Add("cidr", "must be a plain IPv4 or IPv6 range")
			case pr != pr.Masked():
				f.Add("cidr", fmt.Sprintf("has bits set past its prefix length; the range is %s", pr.Masked()))
			case pr.Addr().Is4() && pr.Bits() < 8:
				f.Add("cidr", "an IPv4 pool may be at most a /8")
			case pr.Addr().Is6() && pr.Bits() < 16:
				f.Add("cidr", "an IPv6 pool may be at most a /16")
			default:
				pl.CIDR = pr
			}
		}
		if pl.CIDR.IsValid() {
			share := 32
			if pl.CIDR.Addr().Is6() {
				share = 64
				if pl.CIDR.Bits() > 64 {
					share = 128
				}
			}
			if in.SharePrefix != nil {
				share = *in.SharePrefix
			}
			switch {
			case pl.CIDR.Addr().Is4() && share != 32:
				f.Add("share_prefix", "an IPv4 pool gives one address (32) per share")
			case pl.CIDR.Addr().Is6() && share != 64 && share != 128:
				f.Add("share_prefix", "an IPv6 pool gives a routed /64 (64) or one address (128) per share")
			case share < pl.CIDR.Bits():
				f.Add("share_prefix", fmt.Sprintf("a /%d share does not fit in a /%d pool", share, pl.CIDR.Bits()))
			default:
				pl.SharePrefix = share
			}
		}
	} else {
		if in.CIDR != nil && *in.CIDR != base.CIDR.String() {
			f.Add("cidr", "cannot be changed: make a new pool")
		}
		if in.SharePrefix != nil && *in.SharePrefix != base.SharePrefix {
			f.Add("share_prefix", "cannot be changed: make a new pool")
		}
	}
	if in.Mode != nil {
		pl.Mode = *in.Mode
	}
	if in.Bridge != nil {
		pl.Bridge = *in.Bridge
	}
	if !create && base.Used > 0 && (pl.Mode != base.Mode || pl.Bridge != base.Bridge) {
		f.Add("mode", "cannot be changed while the pool's addresses are in use")
	}
	switch pl.Mode {
	case db.ModeRouted:
		if pl.Bridge != "" {
			f.Add("bridge", "applies to bridged pools only")
		}
	case db.ModeBridged:
		if !bridgeName.MatchString(pl.Bridge) {
			f.Add("bridge", "a bridged pool needs the name of a host bridge: 1 to 15 of A-Z a-z 0-9 _ . -")
		}
		if pl.SharePrefix == 64 {
			f.Add("share_prefix", "a bridged pool gives single addresses (128): a /64 can only be routed")
		}
	default:
		f.Add("mode", "must be routed or bridged")
	}
	if in.Gateway != nil {
		pl.Gateway = nil
		if *in.Gateway != "" {
			g, err := netip.ParseAddr(*in.Gateway)
			switch {
			case err != nil || g.Zone() != "":
				f.Add("gateway", "is not an IP address")
			case pl.CIDR.IsValid() && (g.Is4() != pl.CIDR.Addr().Is4() || !pl.CIDR.Contains(g)):
				f.Add("gateway", fmt.Sprintf("must be an address of the pool %s", pl.CIDR))
			case pl.CIDR.IsValid() && g == pl.CIDR.Addr() && pl.CIDR.Bits() < pl.SharePrefix && g.Is4():
				f.Add("gateway", "is the range's network address")
			default:
				pl.Gateway = &g
			}
		}
	}
	if in.Nameservers != nil {
		pl.Nameservers = nil
		for i, ns := range *in.Nameservers {
			a, err := netip.ParseAddr(ns)
			if err != nil || a.Zone() != "" {
				f.Add(fmt.Sprintf("nameservers[%d]", i), "is not an IP address")
				continue
			}
			pl.Nameservers = append(pl.Nameservers, a)
		}
		if len(*in.Nameservers) > 3 {
			f.Add("nameservers", "at most 3 (resolv.conf reads 3)")
		}
	}
	if in.Default != nil {
		pl.Default = *in.Default
	}
	return pl, f.Err()
}

// Create adds a pool.
func (s *Service) Create(ctx context.Context, p db.Principal, in PoolInput) (PoolView, error) {
	if err := policy.RequireStaff(p); err != nil {
		return PoolView{}, err
	}
	pl, err := check(in, db.IPPool{Mode: db.ModeRouted}, true)
	if err != nil {
		return PoolView{}, err
	}
	id, err := s.Store.InsertPool(ctx, pl)
	if err != nil {
		return PoolView{}, conflict(err, pl)
	}
	s.audit(ctx, p, "ip_pool.create", map[string]any{"name": pl.Name, "cidr": pl.CIDR.String()})
	return s.Get(ctx, p, id)
}

// conflict explains the database's refusals.
func conflict(err error, pl db.IPPool) error {
	var ce *db.ConflictError
	if !errors.As(err, &ce) {
		return err
	}
	switch ce.Field {
	case "name":
		return domain.ConflictField("name", "a pool named %q exists", pl.Name)
	case "cidr":
		return domain.ConflictField("cidr", "%s overlaps another pool", pl.CIDR)
	case "default":
		fam := "IPv4"
		if pl.CIDR.Addr().Is6() {
			fam = "IPv6"
		}
		return domain.ConflictField("default", "another %s pool is the default; unset it first", fam)
	}
	return err
}

// Update changes a pool's name, mode, gateway, nameservers or default
// flag.
func (s *Service) Update(ctx context.Context, p db.Principal, id int64, in PoolInput) (PoolView, error) {
	if err := policy.RequireStaff(p); err != nil {
		return PoolView{}, err
	}
	base, err := s.Store.GetPool(ctx, id, false)
	if errors.Is(err, db.ErrNotFound) {
		return PoolView{}, domain.NotFound("no IP pool %d", id)
	}
	if err != nil {
		return PoolView{}, err
	}
	pl, err := check(in, base, false)
	if err != nil {
		return PoolView{}, err
	}
	if err := s.Store.UpdatePool(ctx, pl); err != nil {
		if errors.Is(err, db.ErrNotFound) {
			return PoolView{}, domain.NotFound("no IP pool %d", id)
		}
		return PoolView{}, conflict(err, pl)
	}
	s.audit(ctx, p, "ip_pool.update", map[string]any{"name": pl.Name})
	return s.Get(ctx, p, id)
}

// Delete removes a pool none of whose addresses is given or reserved.
func (s *Service) Delete(ctx context.Context, p db.Principal, id int64) error {
	if err := policy.RequireStaff(p); err != nil {
		return err
	}
	err := s.Store.DeletePool(ctx, id)
	switch {
	case errors.Is(err, db.ErrNotFound):
		return domain.NotFound("no IP pool %d", id)
	case errors.Is(err, db.ErrInUse):
		return domain.Conflict("IP pool %d still has addresses on containers or reserved; take them off first", id)
	case err != nil:
		return err
	}
	s.audit(ctx, p, "ip_pool.delete", map[string]any{"id": id})
	return nil
}

func (s *Service) audit(ctx context.Context, p db.Principal, action string, details map[string]any) {
	domain.AuditOutside(ctx, s.Store, s.Log, p, action, details)
}
