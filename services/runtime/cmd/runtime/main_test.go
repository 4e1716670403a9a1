package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/testbuf"
)

// binDir holds the binary the tests share; removed after them.
var binDir string

func TestMain(m *testing.M) {
	pgtest.Main(m, func() {
		if binDir != "" {
			os.RemoveAll(binDir)
		}
	})
}

var (
	buildOnce sync.Once
	buildBin  string
	buildErr  error
)

// buildBinary compiles this command, once per test binary.
func buildBinary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		goTool, err := exec.LookPath("go")
		if err != nil {
			//lint:ignore SA1019 only when go is not on PATH: the test builds on the machine that runs it
			goTool = filepath.Join(goruntime.GOROOT(), "bin", "go")
		}
		if binDir, buildErr = os.MkdirTemp("", "runtime-bin-"); buildErr != nil {
			return
		}
		buildBin = filepath.Join(binDir, "runtime")
		build := exec.Command(goTool, "build", "-o", buildBin, ".")
		build.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build and the images
		out, err := build.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return buildBin
}

// servingAddr returns the address of the "serving" log line, if written yet.
func servingAddr(logs string) string {
	sc := bufio.NewScanner(strings.NewReader(logs))
	for sc.Scan() {
		var line struct{ Msg, Addr string }
		if json.Unmarshal(sc.Bytes(), &line) == nil && line.Msg == "serving" {
			return line.Addr
		}
	}
	return ""
}

// start runs the binary with stdin as its standard input and without
// RUNTIME_CONFIG_JSON in its environment; env adds variables.
func start(t testing.TB, bin, stdin string, env ...string) (*exec.Cmd, *testbuf.Buffer, <-chan error) {
	t.Helper()
	cmd := exec.Command(bin)
	cmd.Stdin = strings.NewReader(stdin)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, env...)
	logs := &testbuf.Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	waited := make(chan struct{})
	go func() {
		defer close(waited)
		exited <- cmd.Wait()
	}()
	t.Cleanup(func() {
		// Kills only a process the test left running (it failed early).
		_ = cmd.Process.Kill()
		<-waited
	})
	return cmd, logs, exited
}

func TestBinaryServesAndStopsOnSIGTERM(t *testing.T) {
	bin := buildBinary(t)
	dbURL := pgtest.NewDatabase(t)
	cfg, err := json.Marshal(map[string]string{
		"customer_id":  "cus_BINARY",
		"plan":         "starter",
		"listen_addr":  "127.0.0.1:0",
		"database_url": dbURL,
		"instance_id":  "bin-1",
		"version":      "v-bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	cmd, logs, exited := start(t, bin, string(cfg))

	var addr string
	deadline := time.Now().Add(30 * time.Second)
	for addr = servingAddr(logs.String()); addr == ""; addr = servingAddr(logs.String()) {
		select {
		case err := <-exited:
			t.Fatalf("runtime exited before serving: %v\n%s", err, logs)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no serving line within 30s:\n%s", logs)
		}
	}

	// The database URL (with its password) must not be on the command line.
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(cmdline, []byte("postgres")) || bytes.Contains(cmdline, []byte("cus_BINARY")) {
		t.Errorf("config visible in /proc/<pid>/cmdline: %q", cmdline)
	}

	resp, err := http.Get("http://" + addr + "/health")
	if err != nil {
		t.Fatal(err)
	}
	var health struct{ Status string }
	err = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	if err != nil || resp.StatusCode != http.StatusOK || health.Status != "ok" {
		t.Fatalf("GET /health = %d %+v %v", resp.StatusCode, health, err)
	}

	sigtermExits0(t, cmd, exited, logs)
	if strings.Contains(logs.String(), dbURL) {
		t.Errorf("logs contain the database URL:\n%s", logs)
	}
	if !strings.Contains(logs.String(), `"msg":"stopped"`) {
		t.Errorf("no graceful stop logged:\n%s", logs)
	}
}

// A runtime started warm connects to its database, waits for its
// customer's configuration on stdin, then serves it; one stopped before
// any customer came exits 0 without serving.
func TestBinaryStartedWarmServesTheConfigThatFollows(t *testing.T) {
	bin := buildBinary(t)
	dbURL := pgtest.NewDatabase(t)
	warm, err := json.Marshal(map[string]any{"warm": true, "database_url": dbURL, "instance_id": "pool-bin"})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := json.Marshal(map[string]string{
		"customer_id": "cus_WARMBIN", "plan": "starter", "listen_addr": "127.0.0.1:0",
		"database_url": dbURL, "instance_id": "bin-warm", "version": "v-bin",
	})
	if err != nil {
		t.Fatal(err)
	}
	startWarm := func(t *testing.T) (*exec.Cmd, io.WriteCloser, *testbuf.Buffer, <-chan error) {
		cmd := exec.Command(bin)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH")}
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		logs := &testbuf.Buffer{}
		cmd.Stdout, cmd.Stderr = logs, logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited, waited := make(chan error, 1), make(chan struct{})
		go func() {
			defer close(waited)
			exited <- cmd.Wait()
		}()
		t.Cleanup(func() { _ = cmd.Process.Kill(); <-waited })
		if _, err := stdin.Write(warm); err != nil {
			t.Fatal(err)
		}
		waitLog(t, logs, exited, "warm: connected, waiting for the customer")
		return cmd, stdin, logs, exited
	}
	t.Run("serves its customer", func(t *testing.T) {
		_, stdin, logs, exited := startWarm(t)
		if _, err := stdin.Write(cfg); err != nil {
			t.Fatal(err)
		}
		waitLog(t, logs, exited, `"msg":"serving"`)
		resp, err := http.Get("http://" + servingAddr(logs.String()) + "/health")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET /health = %d", resp.StatusCode)
		}
		if strings.Contains(logs.String(), "not the one warmed up") || strings.Contains(logs.String(), dbURL) {
			t.Fatalf("logs:\n%s", logs)
		}
	})
	t.Run("stopped before a customer came", func(t *testing.T) {
		cmd, _, logs, exited := startWarm(t)
		sigtermExits0(t, cmd, exited, logs)
		if servingAddr(logs.String()) != "" {
			t.Fatalf("a warm runtime served with no customer:\n%s", logs)
		}
	})
}

// sigtermExits0 sends cmd SIGTERM and waits for it to exit 0.
func sigtermExits0(t *testing.T, cmd *exec.Cmd, exited <-chan error, logs *testbuf.Buffer) {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("after SIGTERM: %v, want exit 0\n%s", err, logs)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("runtime still running 30s after SIGTERM\n%s", logs)
	}
}

// waitLog waits until logs contain s, failing if the process exits first.
func waitLog(t *testing.T, logs *testbuf.Buffer, exited <-chan error, s string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), s) {
		select {
		case err := <-exited:
			t.Fatalf("runtime exited before logging %q: %v\n%s", s, err, logs)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q within 30s:\n%s", s, logs)
		}
	}
}

func TestBinaryRejectsIncompleteConfig(t *testing.T) {
	bin := buildBinary(t)
	_, logs, exited := start(t, bin, `{"plan":"pro"}`)
	var err error
	select {
	case err = <-exited:
	case <-time.After(30 * time.Second):
		t.Fatal("runtime did not exit on a bad config")
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 1 {
		t.Fatalf("exit = %v, want status 1\n%s", err, logs)
	}
	for _, field := range []string{"customer_id", "listen_addr", "database_url", "instance_id", "version"} {
		if !strings.Contains(logs.String(), field+" is required") {
			t.Errorf("output does not report %s:\n%s", field, logs)
		}
	}
}
