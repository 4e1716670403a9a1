package openclaw

import (
	"bytes"
	"log/slog"
	"regexp"
	"strings"
	"sync"
)

// maxLine bounds one logged line of the gateway's output.
const maxLine = 4096

// ansi matches terminal colour codes, which OpenClaw writes even to pipes.
var ansi = regexp.MustCompile(`\x1b\[[0-9;]*m`)

// lineLog turns the gateway's output into log records, one per line, with
// every secret the gateway holds replaced by "[redacted]".
type lineLog struct {
	log     *slog.Logger
	secrets []string
	mu      sync.Mutex
	buf     []byte
}

func newLineLog(log *slog.Logger, secrets ...string) *lineLog {
	l := &lineLog{log: log}
	for _, s := range secrets {
		if s != "" {
			l.secrets = append(l.secrets, s)
		}
	}
	return l
}

func (l *lineLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	for {
		i := bytes.IndexByte(l.buf, '\n')
		if i < 0 {
			if len(l.buf) > maxLine {
				l.emit(l.buf)
				l.buf = l.buf[:0]
			}
			return len(p), nil
		}
		l.emit(l.buf[:i])
		l.buf = l.buf[i+1:]
	}
}

// Flush logs what is left of an unfinished line.
func (l *lineLog) Flush() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.buf) > 0 {
		l.emit(l.buf)
		l.buf = l.buf[:0]
	}
}

func (l *lineLog) emit(b []byte) {
	line := strings.TrimSpace(ansi.ReplaceAllString(string(b), ""))
	if line == "" {
		return
	}
	for _, s := range l.secrets {
		line = strings.ReplaceAll(line, s, "[redacted]")
	}
	if len(line) > maxLine {
		line = line[:maxLine]
	}
	l.log.Info("openclaw", "line", line)
}
