// Package s3test runs a real S3-compatible server on this machine for
// tests: versitygw (github.com/versity/versitygw) over a posix directory in
// t.TempDir(), on a free loopback port, stopped when the test ends. The
// binary comes from `make tools` (PATH, GOBIN or GOPATH/bin). Without it a
// test is skipped, saying how to install it — unless the CI variable is
// set: in CI a missing server fails the test.
package s3test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Version is the versitygw release `make tools` installs.
const Version = "v1.8.0"

// Server is a running S3-compatible server.
type Server struct {
	// Endpoint is its URL (http://127.0.0.1:<port>).
	Endpoint string
	// AccessKeyID and SecretAccessKey are its root credentials.
	AccessKeyID, SecretAccessKey string
	// Dir is the directory behind it: <Dir>/<bucket>/<object key>.
	Dir string
}

// Binary finds versitygw, or returns "".
func Binary() string {
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if out, err := exec.Command("go", "env", "GOPATH").Output(); err == nil {
		for _, p := range filepath.SplitList(strings.TrimSpace(string(out))) {
			dirs = append(dirs, filepath.Join(p, "bin"))
		}
	}
	for _, d := range dirs {
		p := filepath.Join(d, "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	return ""
}

// Start runs a server for t.
func Start(t testing.TB) *Server {
	t.Helper()
	bin := Binary()
	if bin == "" {
		msg := "versitygw not found: install it with `make tools` (go install github.com/versity/versitygw/cmd/versitygw@" + Version + ")"
		if os.Getenv("CI") != "" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	s := &Server{AccessKeyID: "claw" + random(6), SecretAccessKey: random(20), Dir: t.TempDir()}
	for attempt := 0; ; attempt++ {
		port, err := freePort()
		if err != nil {
			t.Fatal(err)
		}
		addr := fmt.Sprintf("127.0.0.1:%d", port)
		cmd := exec.Command(bin, "--port", addr, "posix", s.Dir)
		// Credentials through the environment, not the command line.
		cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY="+s.AccessKeyID, "ROOT_SECRET_KEY="+s.SecretAccessKey)
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatalf("start versitygw: %v", err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() {
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		if ready(addr, exited) {
			t.Cleanup(stop)
			s.Endpoint = "http://" + addr
			return s
		}
		stop()
		if attempt == 2 {
			t.Fatalf("versitygw did not start: %s", out.String())
		}
	}
}

// ready waits until addr answers HTTP, or the process exits.
func ready(addr string, exited <-chan struct{}) bool {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 200*time.Millisecond) {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			resp.Body.Close()
			return true
		}
		select {
		case <-exited:
			return false
		case <-ctx.Done():
			return false
		case <-time.After(wait):
		}
	}
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func random(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)[:n]
}
