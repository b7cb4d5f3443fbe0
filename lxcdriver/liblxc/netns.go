package liblxc

import (
	"errors"
	"fmt"
	"net/netip"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// hasOwnNetwork says whether a container's network types (lxc.net's
// value, one per interface) give it an interface of its own: "empty" is
// loopback only, "none" is the host's network, neither has addresses of
// the container's.
func hasOwnNetwork(types []string) bool {
	for _, t := range types {
		switch t {
		case "", "empty", "none":
		default:
			return true
		}
	}
	return false
}

// netnsAddrs lists the addresses in the network namespace of pid as
// liblxc's get_ips does (every interface but lo; IPv6 without the
// link-local ones), but without liblxc's fork into the namespace (see
// tools.go): a locked thread of ours joins the namespace for the two
// netlink dumps, which are plain syscalls, and goes back.
func netnsAddrs(pid int) (v4, v6 []string, err error) {
	var links, addrs []byte
	err = inNetns(pid, func() error {
		var err error
		if links, err = syscall.NetlinkRIB(syscall.RTM_GETLINK, syscall.AF_UNSPEC); err != nil {
			return fmt.Errorf("netlink links: %w", err)
		}
		if addrs, err = syscall.NetlinkRIB(syscall.RTM_GETADDR, syscall.AF_UNSPEC); err != nil {
			return fmt.Errorf("netlink addresses: %w", err)
		}
		return nil
	})
	if err != nil {
		return nil, nil, err
	}
	names, err := linkNames(links)
	if err != nil {
		return nil, nil, err
	}
	msgs, err := syscall.ParseNetlinkMessage(addrs)
	if err != nil {
		return nil, nil, fmt.Errorf("netlink addresses: %w", err)
	}
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWADDR || len(m.Data) < syscall.SizeofIfAddrmsg {
			continue
		}
		ifa := (*syscall.IfAddrmsg)(unsafe.Pointer(&m.Data[0]))
		if names[int32(ifa.Index)] == "lo" {
			continue
		}
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, nil, fmt.Errorf("netlink address: %w", err)
		}
		var address, local []byte
		for _, a := range attrs {
			switch a.Attr.Type {
			case syscall.IFA_ADDRESS:
				address = a.Value
			case syscall.IFA_LOCAL:
				local = a.Value
			}
		}
		switch ifa.Family {
		case syscall.AF_INET:
			// On a point-to-point link IFA_ADDRESS is the peer's.
			if local == nil {
				local = address
			}
			if len(local) == 4 {
				v4 = append(v4, netip.AddrFrom4([4]byte(local)).String())
			}
		case syscall.AF_INET6:
			if len(address) == 16 {
				if ip := netip.AddrFrom16([16]byte(address)); !ip.IsLinkLocalUnicast() {
					v6 = append(v6, ip.String())
				}
			}
		}
	}
	return v4, v6, nil
}

// linkNames maps interface index to name from an RTM_GETLINK dump.
func linkNames(dump []byte) (map[int32]string, error) {
	msgs, err := syscall.ParseNetlinkMessage(dump)
	if err != nil {
		return nil, fmt.Errorf("netlink links: %w", err)
	}
	names := make(map[int32]string)
	for _, m := range msgs {
		if m.Header.Type != syscall.RTM_NEWLINK || len(m.Data) < syscall.SizeofIfInfomsg {
			continue
		}
		ifi := (*syscall.IfInfomsg)(unsafe.Pointer(&m.Data[0]))
		attrs, err := syscall.ParseNetlinkRouteAttr(&m)
		if err != nil {
			return nil, fmt.Errorf("netlink link: %w", err)
		}
		for _, a := range attrs {
			if a.Attr.Type == syscall.IFLA_IFNAME {
				name := a.Value
				if n := len(name); n > 0 && name[n-1] == 0 {
					name = name[:n-1]
				}
				names[ifi.Index] = string(name)
			}
		}
	}
	return names, nil
}

// inNetns runs fn on a thread that has joined the network namespace of
// pid. The network namespace is a thread's own (unlike the mount
// namespace, which Go's threads share through CLONE_FS), and since Go
// 1.10 the runtime starts no thread from a locked one, so nothing but fn
// runs in the container's namespace. Should the way back fail, the thread
// stays locked and ends with its goroutine.
func inNetns(pid int, fn func() error) error {
	target, err := unix.Open(fmt.Sprintf("/proc/%d/ns/net", pid), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return err
	}
	defer unix.Close(target)
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		own, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			runtime.UnlockOSThread()
			done <- err
			return
		}
		defer unix.Close(own)
		if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread()
			done <- fmt.Errorf("join network namespace of pid %d: %w", pid, err)
			return
		}
		ferr := fn()
		if err := unix.Setns(own, unix.CLONE_NEWNET); err != nil {
			done <- errors.Join(ferr, fmt.Errorf("leave network namespace of pid %d: %w", pid, err))
			return
		}
		runtime.UnlockOSThread()
		done <- ferr
	}()
	return <-done
}
