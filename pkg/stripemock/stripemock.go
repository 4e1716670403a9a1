// Package stripemock runs stripe-mock (Stripe's official API mock, which
// answers from Stripe's OpenAPI definition) for tests, installing the pinned
// version with `go install` into the user cache the first time.
package stripemock

import (
	"bufio"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// Version is the stripe-mock the tests install and run.
const Version = "v0.203.0"

var installMu sync.Mutex

// Binary returns stripe-mock, installing it with `go install` into
// <user cache>/clawdbot-tools/stripe-mock-<version> the first time. A
// machine that cannot get it fails the test: checkout is never left untested.
func Binary(t *testing.T) string {
	t.Helper()
	installMu.Lock()
	defer installMu.Unlock()
	cache, err := os.UserCacheDir()
	if err != nil {
		t.Fatalf("stripe-mock: no user cache directory: %v", err)
	}
	dir := filepath.Join(cache, "clawdbot-tools", "stripe-mock-"+Version)
	bin := filepath.Join(dir, "stripe-mock")
	if _, err := os.Stat(bin); err == nil {
		return bin
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("stripe-mock: %v", err)
	}
	// Install into a fresh directory and rename, so a concurrent or
	// interrupted install never leaves half a binary at bin.
	tmp, err := os.MkdirTemp(dir, "install-")
	if err != nil {
		t.Fatalf("stripe-mock: %v", err)
	}
	defer os.RemoveAll(tmp)
	cmd := exec.Command("go", "install", "github.com/stripe/stripe-mock@"+Version)
	cmd.Dir = tmp // outside the workspace: @version installs ignore go.work anyway
	cmd.Env = append(os.Environ(), "GOBIN="+tmp, "GOWORK=off", "GOFLAGS=")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("stripe-mock: go install github.com/stripe/stripe-mock@%s: %v\n%s", Version, err, out)
	}
	if err := os.Rename(filepath.Join(tmp, "stripe-mock"), bin); err != nil {
		t.Fatalf("stripe-mock: %v", err)
	}
	return bin
}

// Start runs stripe-mock on free loopback ports until the test
// ends and returns its HTTP base URL.
func Start(t *testing.T) string {
	t.Helper()
	bin := Binary(t)
	ctx, cancel := context.WithCancel(context.Background())
	// Both listeners on free ports: the HTTPS one would otherwise take
	// :12112 and collide with a parallel test binary.
	cmd := exec.CommandContext(ctx, bin, "-http-addr", "127.0.0.1:", "-https-addr", "127.0.0.1:")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout
	if err := cmd.Start(); err != nil {
		cancel()
		t.Fatalf("start stripe-mock: %v", err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if a, ok := strings.CutPrefix(sc.Text(), "Listening for HTTP at address: "); ok {
				addr <- a
			}
		}
		_, _ = io.Copy(io.Discard, out)
	}()
	select {
	case a := <-addr:
		return "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatal("stripe-mock did not report its HTTP address within 30s")
	}
	return ""
}
