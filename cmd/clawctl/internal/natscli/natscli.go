// Package natscli installs and runs the real NATS CLI (github.com/nats-io/natscli,
// the version docs/runbooks/replay.md is written for), so tests exercise the
// operator's commands exactly as the runbook gives them.
package natscli

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Version is the NATS CLI version the runbook and the tests use.
const Version = "v0.5.0"

// Install returns the path of the nats binary of Version, installing it
// with `go install` into the user cache (clawdbot-tools/natscli-<version>)
// when it is not there yet.
func Install(ctx context.Context) (string, error) {
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", err
	}
	dir := filepath.Join(cache, "clawdbot-tools", "natscli-"+Version)
	bin := filepath.Join(dir, "nats")
	if _, err := os.Stat(bin); err == nil {
		return bin, nil
	}
	cmd := exec.CommandContext(ctx, "go", "install", "github.com/nats-io/natscli/nats@"+Version)
	// Outside the workspace: the CLI is a tool, not a dependency.
	cmd.Env = append(os.Environ(), "GOBIN="+dir, "GOWORK=off", "GOFLAGS=-mod=mod")
	cmd.Dir = os.TempDir()
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go install natscli %s: %v\n%s", Version, err, out)
	}
	return bin, nil
}

// CLI runs nats against one server.
type CLI struct {
	Bin, Server string
	// User and Password authenticate, through NATS_USER and NATS_PASSWORD
	// as docs/runbooks/nats-auth.md does it (empty: no authentication).
	User, Password string
}

// Run runs nats with args (and stdin, if not nil) and returns its stdout.
func (c CLI) Run(ctx context.Context, stdin []byte, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.Bin, append([]string{"--server", c.Server}, args...)...)
	cmd.Env = append(os.Environ(), "NATS_CONTEXT=", "HOME="+os.TempDir())
	if c.User != "" {
		cmd.Env = append(cmd.Env, "NATS_USER="+c.User, "NATS_PASSWORD="+c.Password)
	}
	if stdin != nil {
		cmd.Stdin = bytes.NewReader(stdin)
	}
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("nats %s: %v: %s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// StoredMsg is a message as `nats stream get STREAM SEQ --json` prints it.
type StoredMsg struct {
	Subject string            `json:"subject"`
	Seq     uint64            `json:"seq"`
	Hdrs    []byte            `json:"hdrs"`
	Data    []byte            `json:"data"`
	Time    time.Time         `json:"time"`
	Header  map[string]string `json:"-"`
}

// Get reads message seq of stream with `nats stream get --json`.
func (c CLI) Get(ctx context.Context, stream string, seq uint64) (StoredMsg, error) {
	out, err := c.Run(ctx, nil, "stream", "get", stream, fmt.Sprint(seq), "--json")
	if err != nil {
		return StoredMsg{}, err
	}
	var m StoredMsg
	if err := json.Unmarshal(out, &m); err != nil {
		return StoredMsg{}, fmt.Errorf("stream get %s %d: %w", stream, seq, err)
	}
	m.Header, err = parseHeaders(m.Hdrs)
	return m, err
}

// parseHeaders decodes a NATS header block ("NATS/1.0\r\nK: V\r\n\r\n").
func parseHeaders(b []byte) (map[string]string, error) {
	out := map[string]string{}
	if len(b) == 0 {
		return out, nil
	}
	_, rest, ok := bytes.Cut(b, []byte("\r\n"))
	if !ok {
		return nil, fmt.Errorf("bad header block %q", b)
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(rest)))
	h, err := r.ReadMIMEHeader()
	if err != nil && len(h) == 0 {
		return out, nil
	}
	for k, v := range h {
		if len(v) > 0 {
			out[k] = v[0]
		}
	}
	return out, nil
}

// Publish re-publishes body on subject to JetStream with `nats pub -J`,
// the given headers and Nats-Msg-Id msgID.
func (c CLI) Publish(ctx context.Context, subject string, header map[string]string, msgID string, body []byte) error {
	args := []string{"pub", "--jetstream", "--force-stdin", "--no-templates", subject, "-H", "Nats-Msg-Id:" + msgID}
	for k, v := range header {
		if k == "Nats-Msg-Id" {
			continue
		}
		args = append(args, "-H", k+":"+v)
	}
	_, err := c.Run(ctx, body, args...)
	return err
}
