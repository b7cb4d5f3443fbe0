package liblxc

import (
	"encoding/binary"
	"testing"
)

// proxyMsg builds a message as liblxc's monitor forwards it.
func proxyMsg(nr, arch uint32, cookie string) []byte {
	const notifSize, respSize = 80, 24
	b := make([]byte, proxyHeaderSize+notifSize+respSize+len(cookie))
	le := binary.LittleEndian
	le.PutUint32(b[8:], 100)  // monitor pid
	le.PutUint32(b[12:], 101) // init pid
	le.PutUint16(b[16:], notifSize)
	le.PutUint16(b[18:], respSize)
	le.PutUint16(b[20:], 64)
	le.PutUint64(b[24:], uint64(len(cookie)))
	req := b[proxyHeaderSize:]
	le.PutUint64(req[0:], 0xfeedbeef) // id
	le.PutUint32(req[8:], 4242)       // pid
	le.PutUint32(req[16:], nr)
	le.PutUint32(req[20:], arch)
	copy(b[proxyHeaderSize+notifSize+respSize:], cookie)
	return b
}

// TestSysinfoProxyAnswer: what the proxy cannot answer goes on to the
// kernel (the CONTINUE flag, the notification's id), and what is not
// liblxc's format drops the connection instead of being answered.
func TestSysinfoProxyAnswer(t *testing.T) {
	p := &proxyServer{}
	le := binary.LittleEndian
	for _, tc := range []struct {
		what     string
		nr, arch uint32
		fds      []int
	}{
		{"another syscall", 63, auditArchX86_64, nil},
		{"i386's sysinfo", 116, 0x40000003, nil},
		{"no memory descriptor", sysSysinfoX86_64, auditArchX86_64, nil},
	} {
		out, ok := p.answer(proxyMsg(tc.nr, tc.arch, "101"), tc.fds)
		if !ok {
			t.Fatalf("%s: dropped", tc.what)
		}
		if len(out) != proxyHeaderSize+80+24 {
			t.Fatalf("%s: answer of %d bytes, want header+notif+resp without the cookie", tc.what, len(out))
		}
		resp := out[proxyHeaderSize+80:]
		if id := le.Uint64(resp[0:]); id != 0xfeedbeef {
			t.Errorf("%s: response id %#x", tc.what, id)
		}
		if flags, errno := le.Uint32(resp[20:]), int32(le.Uint32(resp[16:])); flags != notifyFlagGoOn || errno != 0 {
			t.Errorf("%s: flags %d errno %d, want CONTINUE and 0", tc.what, flags, errno)
		}
	}
	good := proxyMsg(sysSysinfoX86_64, auditArchX86_64, "101")
	for what, msg := range map[string][]byte{
		"short":             good[:20],
		"cookie length off": append(append([]byte(nil), good...), 'x'),
		"tiny notif size":   func() []byte { b := append([]byte(nil), good...); le.PutUint16(b[16:], 8); return b }(),
	} {
		if _, ok := p.answer(msg, nil); ok {
			t.Errorf("%s message answered", what)
		}
	}
}
