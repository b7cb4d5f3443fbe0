package hostnet

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os/exec"
	"sort"
	"strconv"
	"strings"
)

// The table is written whole, as text for nft -f, and replaced in one
// batch (add, delete, define: atomic in the kernel), from every
// container's shares. It is the nft tool's own language rather than
// netlink messages built here: a batch is as atomic either way, the
// ruleset reads as what it does, and `nft list table inet ctpanel` shows
// the same text.
//
// A packet from a container's interface (ctv*) meets the filter in
// prerouting at priority raw-10, before anything of the host's can
// accept it; a drop there is final. It passes only from the container's
// own addresses (a set of address . interface), or link-local to the
// link itself (neighbour discovery); router advertisements and DHCP
// server replies never pass. What is dropped is counted per container
// (named counters, carried over each rebuild).

// spoofCounter is the name of ctid's drop counter.
func spoofCounter(ctid int) string { return "spoofed_" + strconv.Itoa(ctid) }

// ruleset is the table's text for specs, with counters' previous values.
func (n Names) ruleset(specs map[int]Spec, counters map[string]Counter) string {
	ids := make([]int, 0, len(specs))
	for id := range specs {
		ids = append(ids, id)
	}
	sort.Ints(ids)
	var b strings.Builder
	fmt.Fprintf(&b, "add table inet %s\ndelete table inet %s\ntable inet %s {\n", n.Table, n.Table, n.Table)
	var v4, v6 []string
	for _, id := range ids {
		for _, sh := range sortedShares(specs[id].Shares) {
			el := fmt.Sprintf("%s . %q", sh.Masked(), n.HostName(id))
			if sh.Addr().Is4() {
				v4 = append(v4, el)
			} else {
				v6 = append(v6, el)
			}
		}
	}
	set := func(name, typ string, els []string) {
		fmt.Fprintf(&b, "\tset %s {\n\t\ttype %s . ifname\n\t\tflags interval\n", name, typ)
		if len(els) > 0 {
			fmt.Fprintf(&b, "\t\telements = { %s }\n", strings.Join(els, ", "))
		}
		b.WriteString("\t}\n")
	}
	set("own4", "ipv4_addr", v4)
	set("own6", "ipv6_addr", v6)
	for _, id := range ids {
		c := counters[spoofCounter(id)]
		fmt.Fprintf(&b, "\tcounter %s {\n\t\tpackets %d bytes %d\n\t}\n", spoofCounter(id), c.Packets, c.Bytes)
	}
	b.WriteString("\tchain prerouting {\n\t\ttype filter hook prerouting priority raw - 10; policy accept;\n")
	fmt.Fprintf(&b, "\t\tiifname \"%s*\" jump from_container\n\t}\n", n.Host)
	b.WriteString("\tchain from_container {\n")
	b.WriteString("\t\ticmpv6 type nd-router-advert drop\n")
	b.WriteString("\t\tudp sport { 67, 547 } drop\n")
	b.WriteString("\t\tip6 saddr fe80::/10 ip6 daddr { fe80::/10, ff02::/16 } return\n")
	b.WriteString("\t\tip6 saddr :: icmpv6 type nd-neighbor-solicit return\n")
	b.WriteString("\t\tip saddr . iifname @own4 return\n")
	b.WriteString("\t\tip6 saddr . iifname @own6 return\n")
	for _, id := range ids {
		fmt.Fprintf(&b, "\t\tiifname %q counter name %q drop\n", n.HostName(id), spoofCounter(id))
	}
	b.WriteString("\t\tdrop\n\t}\n}\n")
	return b.String()
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

// nftCounters reads the table's named counters; none when it has no
// table yet.
func nftCounters(ctx context.Context, nft, table string) (map[string]Counter, error) {
	out, err := exec.CommandContext(ctx, nft, "-j", "list", "counters", "table", "inet", table).Output()
	if err != nil {
		var ee *exec.ExitError
		if errors.As(err, &ee) && strings.Contains(string(ee.Stderr), "No such file or directory") {
			return map[string]Counter{}, nil
		}
		if ee != nil {
			return nil, fmt.Errorf("hostnet: nft list counters: %w: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return nil, fmt.Errorf("hostnet: nft list counters: %w", err)
	}
	var doc struct {
		Nftables []struct {
			Counter *struct {
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
		if o.Counter != nil && o.Counter.Table == table {
			m[o.Counter.Name] = Counter{Packets: o.Counter.Packets, Bytes: o.Counter.Bytes}
		}
	}
	return m, nil
}
