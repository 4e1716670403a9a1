// Package testbuf is a bytes.Buffer for tests that read what concurrent
// writers wrote. It imports nothing but the standard library, so any
// module's tests can use it without taking on the dependencies of
// pkg/servicetest.
package testbuf

import (
	"bytes"
	"sync"
)

// Buffer is a bytes.Buffer safe for concurrent use: the sink of a logger
// whose goroutines, or of a child process whose output pipes, write while
// the test reads.
type Buffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *Buffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *Buffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
