package containers

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"net/netip"

	"github.com/ctpanel/ctpanel/db"
	"github.com/ctpanel/ctpanel/domain"
	"github.com/ctpanel/ctpanel/ops"
)

// Addresses on containers, the vzctl way (set --ipadd / --ipdel): a share
// of a pool (an IPv4 address, an IPv6 /128 or routed /64) is given in
// the database with the set_addresses operation in one transaction; the
// operation puts it on a running container at once, and every start puts
// the container's shares on its interface.

// AddressView is one share of a container.
type AddressView struct {
	// Address is the address (for a /32 or /128) or the routed prefix.
	Address string `json:"address"`
	Pool    string `json:"pool"`
	Family  int    `json:"family"`
	// Reserved is set when the share stays the customer's after it
	// comes off the container.
	Reserved bool `json:"reserved"`
}

func addressView(a db.IPAddress) AddressView {
	v := AddressView{Address: shareString(a.Share), Pool: a.PoolName, Family: 4, Reserved: a.CustomerID != nil}
	if a.Share.Addr().Is6() {
		v.Family = 6
	}
	return v
}

// shareString is a share as the API shows it: a single address bare.
func shareString(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

// Addresses lists the shares on a container.
func (s *Service) Addresses(ctx context.Context, p db.Principal, ref string) ([]AddressView, error) {
	c, err := s.Get(ctx, p, ref)
	if err != nil {
		return nil, err
	}
	list, err := s.Store.ContainerAddresses(ctx, c.CTID)
	if err != nil {
		return nil, err
	}
	out := make([]AddressView, 0, len(list))
	for _, a := range list {
		out = append(out, addressView(a))
	}
	return out, nil
}

// AddressRequest is one address asked for: "auto" (the next free share of
// Pool, or of the default pool of Family) or an address or prefix.
type AddressRequest struct {
	Address string
	Pool    string
	// Family picks the default pool for "auto" without Pool: 4 (the
	// default) or 6.
	Family int
}

// AddAddress gives the container ref a share and records set_addresses.
// A customer may add to their own containers up to their plan's count,
// from "auto" or an address reserved for them.
func (s *Service) AddAddress(ctx context.Context, p db.Principal, ref string, req AddressRequest) (AddressView, db.Operation, error) {
	var view AddressView
	op, err := s.queueWith(ctx, p, ref, "container.ip_address.add", func(q *db.Queries, c db.Container) (ops.Action, map[string]any, error) {
		if c.Phase != db.PhaseReady {
			return nil, nil, domain.Conflict("container %d is %s", c.CTID, c.Phase)
		}
		if !p.IsStaff() {
			if err := s.withinPlan(ctx, q, c, 1); err != nil {
				return nil, nil, err
			}
		}
		a, err := s.allocate(ctx, q, p, c, "address", req)
		if err != nil {
			return nil, nil, err
		}
		view = addressView(a)
		return &ops.SetAddresses{Added: []string{view.Address}}, map[string]any{"address": view.Address, "pool": view.Pool}, nil
	})
	return view, op, err
}

// withinPlan refuses a customer's adding more than their plan lets one
// container hold.
func (s *Service) withinPlan(ctx context.Context, q *db.Queries, c db.Container, more int) error {
	limit := 0
	if c.PlanID != nil {
		pl, err := q.GetPlanByID(ctx, *c.PlanID)
		if err != nil {
			return err
		}
		if n := pl.Network.IPAddresses; n != nil {
			limit = *n
		}
	}
	have, err := q.ContainerAddresses(ctx, c.CTID)
	if err != nil {
		return err
	}
	if len(have)+more > limit {
		return domain.Forbidden("your plan allows %d address(es) on this container; it has %d", limit, len(have))
	}
	return nil
}

// allocate takes a share for c in q's transaction as req asks, naming
// field in what it refuses.
func (s *Service) allocate(ctx context.Context, q *db.Queries, p db.Principal, c db.Container, field string, req AddressRequest) (db.IPAddress, error) {
	f := domain.FieldErrors{}
	pool, want, auto, err := choosePool(ctx, q, field, req)
	if err != nil {
		return db.IPAddress{}, err
	}
	// A container's interface is routed or in one bridge: its addresses
	// come from pools of one kind.
	have, err := q.NetShares(ctx, c.CTID)
	if err != nil {
		return db.IPAddress{}, err
	}
	for _, h := range have {
		if h.Mode != pool.Mode || h.Bridge != pool.Bridge {
			return db.IPAddress{}, domain.ConflictField(field, "container %d's addresses are %s; one from %s pool %s cannot join them",
				c.CTID, linkKind(h.Mode, h.Bridge), pool.Mode, pool.Name)
		}
	}
	ctid := c.CTID
	if auto {
		used, err := q.PoolAddresses(ctx, pool.ID)
		if err != nil {
			return db.IPAddress{}, err
		}
		share, ok := nextFree(pool, used)
		if !ok {
			return db.IPAddress{}, domain.ConflictField(field, "IP pool %s has no free address left", pool.Name)
		}
		a := db.IPAddress{PoolID: pool.ID, PoolName: pool.Name, Share: share, CTID: &ctid}
		if err := q.InsertAddress(ctx, a); err != nil {
			return db.IPAddress{}, err
		}
		return a, nil
	}
	if reason := fitShare(pool, &want); reason != "" {
		f.Add(field, reason)
		return db.IPAddress{}, f.Err()
	}
	existing, err := q.AddressOf(ctx, want.Addr())
	switch {
	case errors.Is(err, db.ErrNotFound):
		if !p.IsStaff() {
			return db.IPAddress{}, domain.Forbidden("customers take addresses with \"auto\" or ones reserved for them")
		}
		a := db.IPAddress{PoolID: pool.ID, PoolName: pool.Name, Share: want, CTID: &ctid}
		if err := q.InsertAddress(ctx, a); err != nil {
			var ce *db.ConflictError
			if errors.As(err, &ce) {
				return db.IPAddress{}, domain.ConflictField(field, "%s is in use", shareString(want))
			}
			return db.IPAddress{}, err
		}
		return a, nil
	case err != nil:
		return db.IPAddress{}, err
	}
	// Taken or reserved: only a reservation for the container's own
	// customer, not on a container, may go on it.
	if existing.CTID != nil || existing.Share != want || existing.CustomerID == nil || c.OwnerID == nil || *existing.CustomerID != *c.OwnerID {
		return db.IPAddress{}, domain.ConflictField(field, "%s is in use", shareString(want))
	}
	if err := q.SetAddressContainer(ctx, existing.ID, &ctid); err != nil {
		return db.IPAddress{}, err
	}
	existing.CTID = &ctid
	return existing, nil
}

// choosePool is the pool req takes a share from (locked until the
// transaction ends: one allocation from a pool at a time; the constraints
// stay the proof), the share asked for unless auto, and whether auto.
func choosePool(ctx context.Context, q *db.Queries, field string, req AddressRequest) (db.IPPool, netip.Prefix, bool, error) {
	f := domain.FieldErrors{}
	var pool db.IPPool
	var err error
	auto := req.Address == "" || req.Address == "auto"
	var want netip.Prefix
	if !auto {
		// A bad address is reported with a bad pool, not before it.
		if want, err = parseShare(req.Address); err != nil {
			f.Add(field, err.Error())
		}
	}
	switch {
	case req.Pool != "":
		pool, err = q.GetPoolByName(ctx, req.Pool)
		if errors.Is(err, db.ErrNotFound) {
			f.Add("pool", fmt.Sprintf("no IP pool %q", req.Pool))
			return pool, want, auto, f.Err()
		}
		if err == nil && len(f) > 0 {
			return pool, want, auto, f.Err()
		}
	case len(f) > 0:
		// No pool named and no address to find one by.
		return pool, want, auto, f.Err()
	case auto:
		fam := req.Family
		if fam == 0 {
			fam = 4
		}
		if fam != 4 && fam != 6 {
			f.Add("family", "must be 4 or 6")
			return pool, want, auto, f.Err()
		}
		pool, err = q.DefaultPool(ctx, fam)
		if errors.Is(err, db.ErrNotFound) {
			f.Add(field, fmt.Sprintf("there is no default IPv%d pool to take an address from; name a pool", fam))
			return pool, want, auto, f.Err()
		}
	default:
		pool, err = q.PoolContaining(ctx, want.Addr())
		if errors.Is(err, db.ErrNotFound) {
			f.Add(field, fmt.Sprintf("%s is in no IP pool", req.Address))
			return pool, want, auto, f.Err()
		}
	}
	if err != nil {
		return pool, want, auto, err
	}
	pool, err = q.GetPool(ctx, pool.ID, true)
	return pool, want, auto, err
}

// parseShare reads an address ("198.18.0.5", "2001:db8::5") or a prefix
// ("2001:db8:0:5::/64").
func parseShare(s string) (netip.Prefix, error) {
	if a, err := netip.ParseAddr(s); err == nil {
		if a.Zone() != "" || a.Is4In6() {
			return netip.Prefix{}, fmt.Errorf("%q is not a plain IPv4 or IPv6 address", s)
		}
		return netip.PrefixFrom(a, a.BitLen()), nil
	}
	pr, err := netip.ParsePrefix(s)
	if err != nil || pr.Addr().Zone() != "" {
		return netip.Prefix{}, fmt.Errorf("%q is not \"auto\", an IP address or an IPv6 prefix", s)
	}
	return pr, nil
}

// fitShare checks that want is a share pool can give, making an address
// inside a /64-share pool its /64; it returns why not, or "".
func fitShare(pool db.IPPool, want *netip.Prefix) string {
	a := want.Addr()
	if !pool.CIDR.Contains(a) {
		return fmt.Sprintf("%s is not in pool %s (%s)", shareString(*want), pool.Name, pool.CIDR)
	}
	if want.IsSingleIP() && pool.SharePrefix < a.BitLen() {
		// An address of a routed prefix stands for the prefix.
		*want = netip.PrefixFrom(a, pool.SharePrefix).Masked()
	}
	if want.Bits() != pool.SharePrefix || *want != want.Masked() {
		return fmt.Sprintf("pool %s gives /%d shares; %s is not one", pool.Name, pool.SharePrefix, want)
	}
	if a.Is4() && pool.CIDR.Bits() <= 30 {
		if a == pool.CIDR.Addr() {
			return fmt.Sprintf("%s is the network address of %s", a, pool.CIDR)
		}
		if a == lastAddr(pool.CIDR) {
			return fmt.Sprintf("%s is the broadcast address of %s", a, pool.CIDR)
		}
	}
	if pool.Gateway != nil && want.Contains(*pool.Gateway) {
		return fmt.Sprintf("%s holds the pool's gateway %s", shareString(*want), pool.Gateway)
	}
	if a.Is6() && want.Bits() == 128 && a == pool.CIDR.Addr() {
		return fmt.Sprintf("%s is the subnet-router anycast address of %s", a, pool.CIDR)
	}
	return ""
}

func lastAddr(p netip.Prefix) netip.Addr {
	b := p.Masked().Addr().AsSlice()
	for i := p.Bits(); i < len(b)*8; i++ {
		b[i/8] |= 1 << (7 - i%8)
	}
	a, _ := netip.AddrFromSlice(b)
	return a
}

// nextFree is the pool's first share nobody holds, skipping what fitShare
// refuses; at most a million tries.
func nextFree(pool db.IPPool, used []db.IPAddress) (netip.Prefix, bool) {
	taken := map[netip.Prefix]bool{}
	for _, u := range used {
		taken[u.Share] = true
	}
	base := new(big.Int).SetBytes(pool.CIDR.Masked().Addr().AsSlice())
	step := new(big.Int).Lsh(big.NewInt(1), uint(pool.CIDR.Addr().BitLen()-pool.SharePrefix))
	total := new(big.Int).Lsh(big.NewInt(1), uint(pool.SharePrefix-pool.CIDR.Bits()))
	limit := int64(1 << 20)
	if total.IsInt64() && total.Int64() < limit {
		limit = total.Int64()
	}
	n := new(big.Int)
	for i := int64(0); i < limit; i++ {
		n.Mul(step, big.NewInt(i))
		n.Add(n, base)
		buf := make([]byte, pool.CIDR.Addr().BitLen()/8)
		n.FillBytes(buf)
		a, _ := netip.AddrFromSlice(buf)
		share := netip.PrefixFrom(a, pool.SharePrefix)
		if taken[share] {
			continue
		}
		probe := share
		if fitShare(pool, &probe) == "" {
			return share, true
		}
	}
	return netip.Prefix{}, false
}

// RemoveAddress takes a share off the container ref (back to the pool,
// or to its customer's reservations) and records set_addresses.
func (s *Service) RemoveAddress(ctx context.Context, p db.Principal, ref, address string) (db.Operation, error) {
	want, err := parseShare(address)
	if err != nil {
		return db.Operation{}, domain.NotFound("%s", err.Error())
	}
	return s.queueWith(ctx, p, ref, "container.ip_address.remove", func(q *db.Queries, c db.Container) (ops.Action, map[string]any, error) {
		a, err := q.AddressOf(ctx, want.Addr())
		if errors.Is(err, db.ErrNotFound) || (err == nil && (a.CTID == nil || *a.CTID != c.CTID)) {
			return nil, nil, domain.NotFound("container %d has no address %s", c.CTID, address)
		}
		if err != nil {
			return nil, nil, err
		}
		if err := q.SetAddressContainer(ctx, a.ID, nil); err != nil {
			return nil, nil, err
		}
		shown := shareString(a.Share)
		return &ops.SetAddresses{Removed: []string{shown}}, map[string]any{"address": shown}, nil
	})
}

func linkKind(mode, bridge string) string {
	if mode == db.ModeBridged {
		return "bridged into " + bridge
	}
	return mode
}
