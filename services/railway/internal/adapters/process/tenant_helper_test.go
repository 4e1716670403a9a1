package process_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// helperEnv names the mode a copy of this test binary runs in when the
// driver starts it as a customer's "runtime" (the hog and probe tests).
const helperEnv = "CLAW_TEST_CHILD"

// helperBin is this test binary copied where any uid can run it.
var helperBin string

// copyHelper copies this test binary next to the built runtime (a
// directory every uid can traverse) and returns its path.
func copyHelper(dir string) (string, error) {
	self, err := os.Executable()
	if err != nil {
		return "", err
	}
	src, err := os.Open(self)
	if err != nil {
		return "", err
	}
	defer src.Close()
	tmp, err := os.CreateTemp(dir, "helper-")
	if err != nil {
		return "", err
	}
	if _, err := io.Copy(tmp, src); err != nil {
		tmp.Close()
		return "", err
	}
	if err := tmp.Close(); err != nil {
		return "", err
	}
	if err := os.Chmod(tmp.Name(), 0o755); err != nil {
		return "", err
	}
	bin := filepath.Join(dir, "tenant-helper")
	return bin, os.Rename(tmp.Name(), bin)
}

// whoami is what the helper reports about itself.
type whoami struct {
	UID, GID int
	Groups   []int
	Cgroup   string
	// StartCgroup is /proc/self/cgroup as the helper's main began.
	StartCgroup string
	Dir         string
	Home        string
}

// runHelper is the helper "runtime": it reads its configuration from stdin
// like the real one and answers
//   - GET /health: 200;
//   - GET /whoami: its uid, gid, groups, cgroups and directories;
//   - GET /open?path=p: "ok" if it can read p (a file, or list a
//     directory), else the error;
//   - POST /write?path=p: "ok" if it can create p;
//   - POST /hog?mb=n: allocates and touches n MiB, then answers "survived";
//   - POST /spawn?n=k: starts k processes (then kills them), answering how
//     many started and why it stopped;
//   - POST /burn?for=d: keeps two CPUs busy for d.
func runHelper() {
	startCgroup, _ := os.ReadFile("/proc/self/cgroup")
	var cfg struct {
		ListenAddr string `json:"listen_addr"`
	}
	if err := json.NewDecoder(os.Stdin).Decode(&cfg); err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		os.Exit(2)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") })
	mux.HandleFunc("GET /whoami", func(w http.ResponseWriter, _ *http.Request) {
		groups, _ := syscall.Getgroups()
		cg, _ := os.ReadFile("/proc/self/cgroup")
		dir, _ := os.Getwd()
		_ = json.NewEncoder(w).Encode(whoami{UID: os.Getuid(), GID: os.Getgid(), Groups: groups,
			Cgroup: string(cg), StartCgroup: string(startCgroup), Dir: dir, Home: os.Getenv("HOME")})
	})
	mux.HandleFunc("GET /open", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, errText(tryRead(r.URL.Query().Get("path"))))
	})
	mux.HandleFunc("POST /write", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, errText(os.WriteFile(r.URL.Query().Get("path"), []byte("x"), 0o600)))
	})
	mux.HandleFunc("POST /spawn", func(w http.ResponseWriter, r *http.Request) {
		n, _ := strconv.Atoi(r.URL.Query().Get("n"))
		started, err := spawn(n)
		fmt.Fprintf(w, "%d %v", started, err)
	})
	mux.HandleFunc("POST /burn", func(w http.ResponseWriter, r *http.Request) {
		d, _ := time.ParseDuration(r.URL.Query().Get("for"))
		var wg sync.WaitGroup
		for range 2 {
			wg.Go(func() {
				for end := time.Now().Add(d); time.Now().Before(end); {
				}
			})
		}
		wg.Wait()
		fmt.Fprint(w, "ok")
	})
	var hoard [][]byte
	mux.HandleFunc("POST /hog", func(w http.ResponseWriter, r *http.Request) {
		mb, _ := strconv.Atoi(r.URL.Query().Get("mb"))
		for range mb {
			b := make([]byte, 1<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			hoard = append(hoard, b)
		}
		fmt.Fprint(w, "survived")
	})
	fmt.Fprintln(os.Stderr, http.ListenAndServe(cfg.ListenAddr, mux))
	os.Exit(1)
}

// spawn starts up to n sleeping processes, kills them all and returns how
// many started and the error that stopped it, if any.
func spawn(n int) (int, error) {
	var cmds []*exec.Cmd
	defer func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
			_ = c.Wait()
		}
	}()
	for range n {
		c := exec.Command("/bin/sleep", "30")
		if err := c.Start(); err != nil {
			return len(cmds), err
		}
		cmds = append(cmds, c)
	}
	return len(cmds), nil
}

// tryRead reads one byte of path, or lists it when it is a directory.
func tryRead(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	if _, err := f.Readdirnames(1); err == nil || errors.Is(err, io.EOF) {
		return nil
	}
	_, err = f.Read(make([]byte, 1))
	if errors.Is(err, io.EOF) {
		return nil
	}
	return err
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}
