package process

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
)

// maxLine bounds one logged line of runtime output.
const maxLine = 16 << 10

// lineLogger logs a child's output line by line at debug level. It redacts
// the child's secrets should the runtime ever print one (it must not).
type lineLogger struct {
	log    *slog.Logger
	stream string
	redact []string

	mu  sync.Mutex
	buf []byte
}

func newLineLogger(log *slog.Logger, stream string, redact []string) *lineLogger {
	return &lineLogger{log: log, stream: stream, redact: redact}
}

// Write logs every complete line of p and keeps the rest for later.
func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) >= maxLine {
		w.emit(w.buf)
		w.buf = nil
	}
	return len(p), nil
}

// addRedact adds secrets to redact from the lines logged from now on.
func (w *lineLogger) addRedact(secrets ...string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.redact = append(w.redact, secrets...)
}

// Flush logs an unterminated last line.
func (w *lineLogger) Flush() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.buf) > 0 {
		w.emit(w.buf)
		w.buf = nil
	}
}

func (w *lineLogger) emit(b []byte) {
	line := strings.TrimRight(string(b), "\r")
	if line == "" {
		return
	}
	for _, s := range w.redact {
		if s != "" {
			line = strings.ReplaceAll(line, s, "[redacted]")
		}
	}
	w.log.Debug("runtime output", "stream", w.stream, "line", line)
}
