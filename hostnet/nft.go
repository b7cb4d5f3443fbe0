package hostnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// The tables are written whole, as text for nft -f, and replaced in one
// batch (add, delete, define: atomic in the kernel), from every
// container's shares. It is the nft tool's own language rather than
// netlink messages built here: a batch is as atomic either way, the
// ruleset reads as what it does, and `nft list table inet ctpanel` shows
// the same text.
//
// Routed containers are filtered in the table of family inet, bridged
// ones in a table of the same name of family bridge (bridged frames never
// meet the inet hooks); both are rebuilt in the same batch.
//
// A packet from a container's interface (ctv*) meets the filter at
// prerouting, before anything of the host's can accept it (inet: priority
// raw-10; bridge: -300); a drop there is final. It passes only from the
// container's own addresses (a set of address . interface), or link-local
// to the link itself (neighbour discovery); router advertisements and
// DHCP server replies never pass. Bridged, its frames must also carry the
// container's own MAC, its ARP its own MAC and address, and its neighbour
// advertisements its own address (or a link-local one) as the target.
// What is dropped is counted per container; what passes from and to each
// share is counted per share (named counters looked up by address in a
// map). All counters are carried over each rebuild.

// spoofCounter is the name of ctid's drop counter.
func spoofCounter(ctid int) string { return "spoofed_" + strconv.Itoa(ctid) }

var counterKey = strings.NewReplacer(".", "_", ":", "_", "/", "_")

// trafficCounter is the name of the counter of what share of ctid's
// received (dir "in") or sent ("out").
func trafficCounter(dir string, ctid int, share netip.Prefix) string {
	fam := "4"
	if share.Addr().Is6() {
		fam = "6"
	}
	return dir + fam + "_" + strconv.Itoa(ctid) + "_" + counterKey.Replace(share.Masked().String())
}

// ruleset is the tables' text for specs, with counters' previous values.
func (n Names) ruleset(specs map[int]Spec, counters map[string]Counter) string {
	routed, bridged := map[int]Spec{}, map[int]Spec{}
	for id, s := range specs {
		if s.Bridge == "" {
			routed[id] = s
		} else {
			bridged[id] = s
		}
	}
	var b strings.Builder
	for _, fam := range []string{"inet", "bridge"} {
		fmt.Fprintf(&b, "add table %s %s\ndelete table %s %s\n", fam, n.Table, fam, n.Table)
	}
	if len(routed) > 0 {
		n.table(&b, "inet", routed, counters)
	}
	if len(bridged) > 0 {
		n.table(&b, "bridge", bridged, counters)
	}
	return b.String()
}

// table writes one family's table for specs.
func (n Names) table(b *strings.Builder, fam string, specs map[int]Spec, counters map[string]Counter) {
	ids := make([]int, 0, len(specs))
	for id := range specs {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	bridge := fam == "bridge"
	fmt.Fprintf(b, "table %s %s {\n", fam, n.Table)
	var own4, own6, out4, out6, in4, in6, macs, nd6 []string
	var names []string
	for _, id := range ids {
		host := strconv.Quote(n.HostName(id))
		names = append(names, spoofCounter(id))
		macs = append(macs, MAC(id).String()+" . "+host)
		for _, sh := range sortedShares(specs[id].Shares) {
			el := sh.Masked().String()
			in, out := trafficCounter("in", id, sh), trafficCounter("out", id, sh)
			names = append(names, in, out)
			if sh.Addr().Is4() {
				own4 = append(own4, el+" . "+host)
				in4 = append(in4, el+" : "+strconv.Quote(in))
				out4 = append(out4, el+" : "+strconv.Quote(out))
			} else {
				own6 = append(own6, el+" . "+host)
				in6 = append(in6, el+" : "+strconv.Quote(in))
				out6 = append(out6, el+" : "+strconv.Quote(out))
				a := sh.Addr().As16()
				nd6 = append(nd6, fmt.Sprintf("0x%x . %s", a[:], host))
			}
		}
	}
	set := func(kind, name, typ, flags string, els []string) {
		fmt.Fprintf(b, "\t%s %s {\n\t\t%s\n", kind, name, typ)
		if flags != "" {
			fmt.Fprintf(b, "\t\tflags %s\n", flags)
		}
		if len(els) > 0 {
			fmt.Fprintf(b, "\t\telements = { %s }\n", strings.Join(els, ", "))
		}
		b.WriteString("\t}\n")
	}
	for _, name := range names {
		c := counters[name]
		fmt.Fprintf(b, "\tcounter %s {\n\t\tpackets %d bytes %d\n\t}\n", name, c.Packets, c.Bytes)
	}
	set("set", "own4", "type ipv4_addr . ifname", "interval", own4)
	set("set", "own6", "type ipv6_addr . ifname", "interval", own6)
	set("map", "in4", "type ipv4_addr : counter", "interval", in4)
	set("map", "out4", "type ipv4_addr : counter", "interval", out4)
	set("map", "in6", "type ipv6_addr : counter", "interval", in6)
	set("map", "out6", "type ipv6_addr : counter", "interval", out6)
	prio, outPrio := "raw - 10", "0"
	if bridge {
		prio, outPrio = "-300", "0"
		set("set", "macs", "type ether_addr . ifname", "", macs)
		set("set", "nd6", "typeof @th,64,128 . iifname", "", nd6)
	}
	fmt.Fprintf(b, "\tchain prerouting {\n\t\ttype filter hook prerouting priority %s; policy accept;\n", prio)
	fmt.Fprintf(b, "\t\tiifname \"%s*\" jump from_container\n\t}\n", n.Host)
	b.WriteString("\tchain from_container {\n")
	if bridge {
		b.WriteString("\t\tether saddr . iifname != @macs goto spoofed\n")
		b.WriteString("\t\tarp saddr ether . iifname != @macs goto spoofed\n")
		b.WriteString("\t\tarp saddr ip . iifname @own4 return\n")
		b.WriteString("\t\tether type arp goto spoofed\n")
		b.WriteString("\t\ticmpv6 type nd-neighbor-advert @th,64,16 != 0xfe80 @th,64,128 . iifname != @nd6 goto spoofed\n")
	}
	b.WriteString("\t\ticmpv6 type nd-router-advert goto spoofed\n")
	b.WriteString("\t\tudp sport { 67, 547 } goto spoofed\n")
	b.WriteString("\t\tip6 saddr fe80::/10 ip6 daddr { fe80::/10, ff02::/16 } return\n")
	b.WriteString("\t\tip6 saddr :: icmpv6 type nd-neighbor-solicit return\n")
	b.WriteString("\t\tip saddr . iifname @own4 counter name ip saddr map @out4 return\n")
	b.WriteString("\t\tip6 saddr . iifname @own6 counter name ip6 saddr map @out6 return\n")
	b.WriteString("\t\tgoto spoofed\n\t}\n")
	b.WriteString("\tchain spoofed {\n")
	for _, id := range ids {
		fmt.Fprintf(b, "\t\tiifname %q counter name %q drop\n", n.HostName(id), spoofCounter(id))
	}
	b.WriteString("\t\tdrop\n\t}\n")
	fmt.Fprintf(b, "\tchain postrouting {\n\t\ttype filter hook postrouting priority %s; policy accept;\n", outPrio)
	b.WriteString("\t\tip daddr . oifname @own4 counter name ip daddr map @in4\n")
	b.WriteString("\t\tip6 daddr . oifname @own6 counter name ip6 daddr map @in6\n")
	b.WriteString("\t}\n}\n")
}

// nftApply runs nft -f on text.
func nftApply(ctx context.Context, nft, text string) error {
	cmd := exec.CommandContext(ctx, nft, "-f", "-")
	cmd.Stdin = strings.NewReader(text)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("hostnet: nft: %w: %s", err, strings.TrimSpace(stderr.String()))
	}
	return nil
}

// nftCounters reads the named counters of the tables called table (of
// either family); none when there is no such table.
func nftCounters(ctx context.Context, nft, table string) (map[string]Counter, error) {
	out, err := exec.CommandContext(ctx, nft, "-j", "list", "counters").Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return nil, fmt.Errorf("hostnet: nft list counters: %w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("hostnet: nft list counters: %w", err)
	}
	var doc struct {
		Nftables []struct {
			Counter *struct {
				Family  string `json:"family"`
				Name    string `json:"name"`
				Table   string `json:"table"`
				Packets uint64 `json:"packets"`
				Bytes   uint64 `json:"bytes"`
			} `json:"counter"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, fmt.Errorf("hostnet: nft counters: %w", err)
	}
	m := map[string]Counter{}
	for _, o := range doc.Nftables {
		if o.Counter != nil && o.Counter.Table == table && (o.Counter.Family == "inet" || o.Counter.Family == "bridge") {
			m[o.Counter.Name] = Counter{Packets: o.Counter.Packets, Bytes: o.Counter.Bytes}
		}
	}
	return m, nil
}
