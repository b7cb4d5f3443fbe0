package hostnet

import (
	"errors"
	"fmt"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Rate limits are shaped, not policed, so that TCP settles at the rate
// instead of losing packets to a policer: an HTB class with an fq_codel
// queue under it (a FIFO on kernels without fq_codel).
//
//   - To the container (RateIn): on the host end's egress.
//   - From the container (RateOut): the host end's ingress is redirected
//     (mirred) to an IFB device of the container's own, shaped on its
//     egress; the IFB hands each packet back to the host end's ingress,
//     where the anti-spoofing filter then sees it as before.
//
// A container end inside the container would be simpler to shape, but its
// root could remove the qdisc; the host's ends are out of its reach.

// Mbit is a rate in Mbit/s as bits/s.
const Mbit = 1_000_000

var (
	htbRoot   = netlink.MakeHandle(1, 0)
	htbClass  = netlink.MakeHandle(1, 1)
	fqHandle  = netlink.MakeHandle(10, 0)
	ingressID = netlink.MakeHandle(0xffff, 0)
)

// shape makes host's and its IFB's queues carry s's rates (none where
// a rate is 0).
func (l *Linux) shape(host netlink.Link, s Spec) error {
	if err := shapeEgress(host, s.RateIn); err != nil {
		return fmt.Errorf("hostnet: container %d: rate in: %w", s.CTID, err)
	}
	ifbName := l.names.ShaperName(s.CTID)
	if s.RateOut == 0 {
		if err := delIngress(host); err != nil {
			return fmt.Errorf("hostnet: container %d: rate out: %w", s.CTID, err)
		}
		return delLinks(ifbName)
	}
	ifb, err := netlink.LinkByName(ifbName)
	if isNotFound(err) {
		if err = netlink.LinkAdd(&netlink.Ifb{LinkAttrs: netlink.LinkAttrs{Name: ifbName, TxQLen: 1000}}); err != nil {
			return fmt.Errorf("hostnet: make %s: %w", ifbName, err)
		}
		ifb, err = netlink.LinkByName(ifbName)
	}
	if err != nil {
		return fmt.Errorf("hostnet: %s: %w", ifbName, err)
	}
	if err := netlink.LinkSetUp(ifb); err != nil {
		return fmt.Errorf("hostnet: set %s up: %w", ifbName, err)
	}
	if err := shapeEgress(ifb, s.RateOut); err != nil {
		return fmt.Errorf("hostnet: container %d: rate out: %w", s.CTID, err)
	}
	if err := redirectIngress(host, ifb); err != nil {
		return fmt.Errorf("hostnet: container %d: rate out: %w", s.CTID, err)
	}
	return nil
}

// shapeEgress gives link a root HTB at mbit (replacing what is there),
// or takes the panel's root qdisc away when mbit is 0.
func shapeEgress(link netlink.Link, mbit int) error {
	idx := link.Attrs().Index
	if mbit == 0 {
		qs, err := netlink.QdiscList(link)
		if err != nil {
			return err
		}
		for _, q := range qs {
			if q.Attrs().Parent == netlink.HANDLE_ROOT && q.Type() == "htb" {
				if err := netlink.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) {
					return err
				}
			}
		}
		return nil
	}
	ours, err := hasQdisc(link, netlink.HANDLE_ROOT, htbRoot, "htb")
	if err != nil {
		return err
	}
	if !ours { // the kernel refuses to replace an HTB root in place
		root := netlink.NewHtb(netlink.QdiscAttrs{LinkIndex: idx, Handle: htbRoot, Parent: netlink.HANDLE_ROOT})
		root.Defcls = 1
		if err := netlink.QdiscReplace(root); err != nil {
			return fmt.Errorf("htb qdisc on %s: %w", link.Attrs().Name, err)
		}
	}
	rate := uint64(mbit) * Mbit
	class := netlink.NewHtbClass(netlink.ClassAttrs{LinkIndex: idx, Handle: htbClass, Parent: htbRoot},
		netlink.HtbClassAttrs{Rate: rate, Ceil: rate})
	if err := netlink.ClassReplace(class); err != nil {
		return fmt.Errorf("htb class on %s: %w", link.Attrs().Name, err)
	}
	// fq_codel under the class where the kernel has it (Debian's does);
	// else HTB's own FIFO stays.
	leaf := netlink.NewFqCodel(netlink.QdiscAttrs{LinkIndex: idx, Handle: fqHandle, Parent: htbClass})
	if err := netlink.QdiscReplace(leaf); err != nil && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("fq_codel on %s: %w", link.Attrs().Name, err)
	}
	return nil
}

// redirectIngress sends everything host receives through ifb.
func redirectIngress(host, ifb netlink.Link) error {
	idx := host.Attrs().Index
	ok, err := hasQdisc(host, netlink.HANDLE_INGRESS, ingressID, "ingress")
	if err != nil {
		return err
	}
	if !ok {
		if err := netlink.QdiscAdd(&netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{
			LinkIndex: idx, Handle: ingressID, Parent: netlink.HANDLE_INGRESS}}); err != nil {
			return fmt.Errorf("ingress qdisc on %s: %w", host.Attrs().Name, err)
		}
	}
	redirect := netlink.NewMirredAction(ifb.Attrs().Index)
	// u32 with no selector matches everything (matchall is not in every
	// kernel; u32 is).
	have, err := netlink.FilterList(host, ingressID)
	if err != nil {
		return fmt.Errorf("filters on %s: %w", host.Attrs().Name, err)
	}
	for _, f := range have {
		if u, ok := f.(*netlink.U32); ok && len(u.Actions) == 1 {
			if m, ok := u.Actions[0].(*netlink.MirredAction); ok && m.Ifindex == ifb.Attrs().Index {
				return nil
			}
		}
		if err := netlink.FilterDel(f); err != nil {
			return fmt.Errorf("filter on %s: %w", host.Attrs().Name, err)
		}
	}
	f := &netlink.U32{
		FilterAttrs: netlink.FilterAttrs{LinkIndex: idx, Parent: ingressID, Priority: 1, Protocol: unix.ETH_P_ALL},
		Actions:     []netlink.Action{redirect},
	}
	if err := netlink.FilterAdd(f); err != nil {
		return fmt.Errorf("redirect %s to %s: %w", host.Attrs().Name, ifb.Attrs().Name, err)
	}
	return nil
}

// delIngress removes host's ingress qdisc (and its redirect).
func delIngress(host netlink.Link) error {
	q := &netlink.Ingress{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: host.Attrs().Index, Handle: ingressID, Parent: netlink.HANDLE_INGRESS}}
	if err := netlink.QdiscDel(q); err != nil && !errors.Is(err, unix.ENOENT) && !errors.Is(err, unix.EINVAL) {
		return err
	}
	return nil
}

// hasQdisc says whether link has a qdisc of kind with handle at parent.
func hasQdisc(link netlink.Link, parent, handle uint32, kind string) (bool, error) {
	qs, err := netlink.QdiscList(link)
	if err != nil {
		return false, fmt.Errorf("qdiscs of %s: %w", link.Attrs().Name, err)
	}
	for _, q := range qs {
		if a := q.Attrs(); a.Parent == parent && a.Handle == handle && q.Type() == kind {
			return true, nil
		}
	}
	return false, nil
}
