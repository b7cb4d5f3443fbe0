package console

import (
	"bytes"
	"unicode/utf8"
)

// ring keeps the last size bytes written to it: the recent screen output a
// viewer sees when it attaches.
type ring struct {
	buf     []byte
	next    int  // where the next byte goes
	wrapped bool // buf is full and next is also the oldest byte
}

func newRing(size int) *ring { return &ring{buf: make([]byte, size)} }

func (r *ring) Write(p []byte) {
	if len(p) >= len(r.buf) {
		copy(r.buf, p[len(p)-len(r.buf):])
		r.next, r.wrapped = 0, true
		return
	}
	n := copy(r.buf[r.next:], p)
	if n < len(p) {
		copy(r.buf, p[n:])
		r.wrapped = true
	}
	if r.next+len(p) >= len(r.buf) {
		r.wrapped = true
	}
	r.next = (r.next + len(p)) % len(r.buf)
}

// Bytes returns a copy of what is kept, oldest first. Once older output
// has been dropped, the copy starts at a clean place: after the first line
// break if there is one near the start (so no half escape sequence or
// half line leads), else at the first whole UTF-8 character.
func (r *ring) Bytes() []byte {
	if !r.wrapped {
		return bytes.Clone(r.buf[:r.next])
	}
	out := make([]byte, 0, len(r.buf))
	out = append(out, r.buf[r.next:]...)
	out = append(out, r.buf[:r.next]...)
	if i := bytes.IndexByte(out[:min(len(out), 1024)], '\n'); i >= 0 {
		return out[i+1:]
	}
	for len(out) > 0 && !utf8.RuneStart(out[0]) {
		out = out[1:]
	}
	return out
}
