package sim

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"hash"
	"io"
	"sync"
)

// traceTail is how many trace lines a Violation carries.
const traceTail = 50

// tracer keeps the run's trace: a running SHA-256 of every line, the
// last traceTail lines, and optionally a copy of every line to w. Lines
// are added by the driver and by tasks (which the executor runs one at a
// time); the lock only makes that visible to the race detector.
type tracer struct {
	mu   sync.Mutex
	h    hash.Hash
	buf  []byte // scratch: the line being hashed
	ring [traceTail]string
	n    int // lines so far
	w    io.Writer
	werr error
	off  bool
}

func newTracer(w io.Writer) *tracer { return &tracer{h: sha256.New(), w: w} }

// add appends one line (without its newline).
func (t *tracer) add(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.off {
		return
	}
	t.buf = append(append(t.buf[:0], line...), '\n')
	t.h.Write(t.buf)
	t.ring[t.n%traceTail] = line
	t.n++
	if t.w != nil && t.werr == nil {
		_, t.werr = fmt.Fprintln(t.w, line)
	}
}

// note writes a line to w only: it is neither hashed nor kept.
func (t *tracer) note(line string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.w != nil && t.werr == nil && !t.off {
		_, t.werr = fmt.Fprintln(t.w, line)
	}
}

// tail returns the last lines, oldest first.
func (t *tracer) tail() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	k := min(t.n, traceTail)
	out := make([]string, 0, k)
	for i := t.n - k; i < t.n; i++ {
		out = append(out, t.ring[i%traceTail])
	}
	return out
}

// digest returns the hash of the lines so far (the trace goes on).
func (t *tracer) digest() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return hex.EncodeToString(t.h.Sum(nil))
}

// stop ends the trace: later lines are dropped.
func (t *tracer) stop() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.off = true
}

// err reports a failure writing to the trace writer.
func (t *tracer) err() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.werr
}
