package cluster_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/bench"
	"clawdbot.cloud/cmd/clawctl/internal/cluster"
	"clawdbot.cloud/cmd/clawctl/internal/e2e"
	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/cmd/clawctl/internal/signup"
	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/stripefixture"
	"clawdbot.cloud/proto/subjects"
)

// binDir holds nats-server and every service's binary, built once.
var binDir string

func TestMain(m *testing.M) {
	pkgs := []string{"github.com/nats-io/nats-server/v2"}
	for _, s := range append([]string{"runtime"}, serviceNames()...) {
		pkgs = append(pkgs, "clawdbot.cloud/services/"+s+"/cmd/"+s)
	}
	e2e.MainWithBinaries(m, &binDir, pkgs...)
}

func serviceNames() []string {
	var out []string
	for _, s := range platform.Services {
		out = append(out, s.Name)
	}
	return out
}

// harness is one cluster under test; its ports and data stay the same
// across restarts.
type harness struct {
	c      *cluster.Cluster
	dir    string
	env    map[string]string
	ports  cluster.Ports
	opsMap map[[2]int]int
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	h := &harness{dir: e2e.TraversableDir(t), opsMap: map[[2]int]int{}}
	port := func() int { return freePort(t) }
	addr := func() string { return "127.0.0.1:" + strconv.Itoa(port()) }
	for i := range cluster.Nodes {
		h.ports.Client[i], h.ports.Route[i], h.ports.Monitor[i] = port(), port(), port()
	}
	for i := range platform.Services {
		for r := 1; r <= 2; r++ {
			h.opsMap[[2]int{i, r}] = port()
		}
	}
	h.ports.Ops = func(i, r int) int { return h.opsMap[[2]int{i, r}] }
	h.env = map[string]string{
		"CLAW_DATA_DIR":  h.dir,
		"DATABASE_URL":   pgtest.NewDatabase(t),
		"RUNTIME_BINARY": filepath.Join(binDir, "runtime"),
		"INGRESS_ADDR":   addr(),
		"WEB_ADDR":       addr(),
	}
	return h
}

// freePort is a loopback port free right now (bench.FreeAddr).
func freePort(tb testing.TB) int {
	tb.Helper()
	addr, err := bench.FreeAddr()
	if err != nil {
		tb.Fatal(err)
	}
	_, p, _ := strings.Cut(addr, ":")
	n, _ := strconv.Atoi(p)
	return n
}

func (h *harness) up(t *testing.T) {
	t.Helper()
	level := slog.LevelWarn
	if os.Getenv("TEST_LOG") != "" {
		level = slog.LevelDebug
	}
	c, err := cluster.Start(context.Background(), cluster.Options{
		DataDir: h.dir, BinDir: binDir, Ports: h.ports,
		Env: func(k string) (string, bool) {
			if v, ok := h.env[k]; ok {
				return v, true
			}
			return os.LookupEnv(k)
		},
		Log: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		h.dumpLogs(t)
		t.Fatalf("start cluster: %v", err)
	}
	h.c = c
}

func (h *harness) down() {
	if h.c != nil {
		h.c.Stop()
		h.c = nil
	}
}

// dumpLogs prints the tail of every process's log when a test failed.
func (h *harness) dumpLogs(t *testing.T) {
	t.Helper()
	logs, _ := filepath.Glob(filepath.Join(h.dir, "logs", "*.log"))
	for _, l := range logs {
		b, _ := os.ReadFile(l)
		if len(b) > 3000 {
			b = b[len(b)-3000:]
		}
		t.Logf("--- %s\n%s", filepath.Base(l), b)
	}
}

func (h *harness) signup(t *testing.T, plan string) *signup.Result {
	t.Helper()
	res, err := signup.Run(context.Background(), signup.Options{
		IngressURL: h.c.IngressURL, Secret: h.c.WebhookSecret, Timeout: 90 * time.Second,
		Checkout: stripefixture.Checkout{Email: "ada@example.com", Name: "Ada Lovelace", Plan: plan},
	})
	if err != nil {
		h.dumpLogs(t)
		t.Fatalf("signup: %v", err)
	}
	if res.Status.InstanceURL == "" || !strings.HasPrefix(res.Status.APIKey, "claw_") {
		t.Fatalf("signup: no credentials in %+v", res.Status)
	}
	return res
}

// The production topology on one machine: three NATS nodes holding every
// stream at three replicas, two processes of every service from its own
// binary, each on the bus as its service's principal and in Postgres as its
// service's role; a signup goes through to a working key. With one replica
// of every service killed (the compute service's runtimes move to the
// other replica), the first customer's key works again, the supervisor
// starts each killed replica again, and a second signup completes; after a
// restart on the same data both keys still work.
func TestClusterSignupSurvivesAReplicaOfEveryService(t *testing.T) {
	h := newHarness(t)
	h.up(t)
	t.Cleanup(h.down)

	for _, svc := range serviceNames() {
		ps := h.c.Processes(svc)
		if len(ps) != 2 {
			t.Fatalf("%s: %d processes, want 2", svc, len(ps))
		}
		for _, p := range ps {
			checkProcess(t, p, filepath.Join(binDir, svc))
		}
	}
	h.checkBusPrincipals(t)
	h.checkStreams(t)

	ada := h.signup(t, "pro")
	h.keyWorks(t, ada, "pro")

	// A crash of one replica of every service (SIGKILL: no draining).
	owner := h.computeOwner(t)
	t.Logf("railway-%d ran the runtimes", owner)
	// Restarts before the kill are the supervisor's too (a replica that
	// gave up waiting for the cluster to create its consumer at start, as
	// a loaded CI machine saw): what counts is one more for the kill.
	before := map[string]int{}
	for _, svc := range serviceNames() {
		for _, p := range h.c.Processes(svc) {
			before[svc] += p.Restarts()
		}
	}
	killed := time.Now()
	for _, svc := range serviceNames() {
		victim := h.c.Processes(svc)[0]
		if svc == "railway" {
			victim = h.c.Processes(svc)[owner-1] // the one with runtimes to lose
		}
		if err := victim.Kill(); err != nil {
			t.Fatal(err)
		}
	}
	// The instances' lock moves to the other compute replica, which
	// starts the runtimes again on their ports.
	waitFor(t, "the first customer's key to work after the kill", func() bool { return keyAnswers(ada) })
	t.Logf("the first customer's instance answered again %v after the kill", time.Since(killed).Round(time.Millisecond))
	// The supervisor starts every killed replica again, once.
	if err := h.c.WaitReady(context.Background(), 60*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, svc := range serviceNames() {
		restarts := -before[svc]
		for _, p := range h.c.Processes(svc) {
			restarts += p.Restarts()
		}
		if restarts != 1 {
			t.Errorf("%s: %d restarts after killing one replica, want 1", svc, restarts)
		}
	}
	grace := h.signup(t, "starter")
	h.keyWorks(t, grace, "starter")
	h.keyWorks(t, ada, "pro")
	if n := runtimes(t); n != 2 {
		t.Errorf("%d runtime processes for 2 customers, want exactly one each", n)
	}

	// Stop everything; nothing is left behind; a restart on the same data
	// serves both customers again.
	h.down()
	if n := runtimes(t); n != 0 {
		t.Errorf("%d runtime processes after stop, want 0", n)
	}
	h.up(t)
	for _, r := range []*signup.Result{ada, grace} {
		waitFor(t, "a key to work after the restart", func() bool { return keyAnswers(r) })
	}
	if t.Failed() {
		h.dumpLogs(t)
	}
}

// checkProcess checks that p runs bin as its service's principal (its own
// password file) and role, never the superuser.
func checkProcess(t *testing.T, p *cluster.Process, bin string) {
	t.Helper()
	if !p.Alive() {
		t.Errorf("%s is not running", p.Name)
		return
	}
	exe, err := os.Readlink("/proc/" + strconv.Itoa(p.PID()) + "/exe")
	if err != nil || exe != bin {
		t.Errorf("%s runs %q (%v), want %s", p.Name, exe, err, bin)
	}
	environ, err := os.ReadFile("/proc/" + strconv.Itoa(p.PID()) + "/environ")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, kv := range bytes.Split(environ, []byte{0}) {
		k, v, _ := strings.Cut(string(kv), "=")
		vars[k] = v // the last one wins, as in the process
	}
	if vars["NATS_USER"] != p.Service || vars["NATS_PASSWORD"] != "" || !strings.HasSuffix(vars["NATS_PASSWORD_FILE"], "/"+p.Service+".password") {
		t.Errorf("%s: bus principal %q, password file %q", p.Name, vars["NATS_USER"], vars["NATS_PASSWORD_FILE"])
	}
	u, err := url.Parse(vars["DATABASE_URL"])
	if err != nil || !strings.HasPrefix(u.User.Username(), "clawsvc_") || !strings.HasSuffix(u.User.Username(), "_"+p.Service) {
		t.Errorf("%s: database role %q, want its service's clawsvc_ role", p.Name, u.User.Username())
	}
	if vars["NATS_REPLICAS"] != "3" {
		t.Errorf("%s: NATS_REPLICAS=%q, want 3", p.Name, vars["NATS_REPLICAS"])
	}
}

// checkBusPrincipals reads the nodes' /connz: each service has two
// connections, each authenticated as the service's own user.
func (h *harness) checkBusPrincipals(t *testing.T) {
	t.Helper()
	conns := map[string]int{}
	for _, node := range h.c.Processes("nats") {
		resp, err := http.Get("http://" + node.OpsAddr + "/connz?auth=true&limit=1000")
		if err != nil {
			t.Fatal(err)
		}
		var connz struct {
			Connections []struct {
				Name string `json:"name"`
				User string `json:"authorized_user"`
			} `json:"connections"`
		}
		err = json.NewDecoder(resp.Body).Decode(&connz)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range connz.Connections {
			if c.Name != c.User && c.User != busauth.Operator {
				t.Errorf("connection %q authenticated as %q", c.Name, c.User)
			}
			conns[c.User]++
		}
	}
	for _, svc := range serviceNames() {
		if conns[svc] < 2 {
			t.Errorf("%s: %d bus connections as its principal, want one per replica", svc, conns[svc])
		}
	}
}

// checkStreams checks every stream has three replicas, all current.
func (h *harness) checkStreams(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	b, err := bus.Connect(ctx, h.c.NATSURLs, "cluster-test", slog.New(slog.DiscardHandler), nil, h.c.BusOptions(busauth.Operator)...)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	for _, name := range []string{subjects.Stream, subjects.DeadLetterStream} {
		s, err := b.JetStream().Stream(ctx, name)
		if err != nil {
			t.Fatal(err)
		}
		info := s.CachedInfo()
		if info.Config.Replicas != cluster.Nodes || info.Cluster == nil || len(info.Cluster.Replicas) != cluster.Nodes-1 || info.Cluster.Leader == "" {
			t.Errorf("stream %s: %d replicas, cluster %+v; want %d", name, info.Config.Replicas, info.Cluster, cluster.Nodes)
		}
	}
}

// computeOwner is the compute replica holding the instances' lock: the
// other one logged that it waits for it.
func (h *harness) computeOwner(t *testing.T) int {
	t.Helper()
	for _, p := range h.c.Processes("railway") {
		b, err := os.ReadFile(p.LogPath)
		if err != nil {
			t.Fatal(err)
		}
		if bytes.Contains(b, []byte("another compute service owns the instances")) {
			return 3 - p.Replica
		}
	}
	t.Fatal("neither compute replica waits for the other")
	return 0
}

func keyAnswers(r *signup.Result) bool {
	req, _ := http.NewRequest(http.MethodGet, r.Status.InstanceURL+"/status", nil)
	req.Header.Set("Authorization", "Bearer "+r.Status.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

func (h *harness) keyWorks(t *testing.T, r *signup.Result, plan string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, r.Status.InstanceURL+"/status", nil)
	req.Header.Set("Authorization", "Bearer "+r.Status.APIKey)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET /status: %v", err)
	}
	defer resp.Body.Close()
	var body struct {
		Plan string `json:"plan"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&body)
	if resp.StatusCode != http.StatusOK || body.Plan != plan {
		t.Errorf("/status with the key = %d plan %q, want 200 %s", resp.StatusCode, body.Plan, plan)
	}
}

// runtimes counts live processes of the test's runtime binary.
func runtimes(t *testing.T) int {
	t.Helper()
	bin := filepath.Join(binDir, "runtime")
	entries, _ := os.ReadDir("/proc")
	n := 0
	for _, e := range entries {
		if exe, err := os.Readlink(filepath.Join("/proc", e.Name(), "exe")); err == nil && exe == bin {
			n++
		}
	}
	return n
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// A cluster whose port is taken (clawctl dev running, say) says which one
// before it starts anything.
func TestStartRefusesATakenPort(t *testing.T) {
	h := newHarness(t)
	taken := h.ports.Client[1]
	ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(taken))
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := cluster.Start(context.Background(), cluster.Options{
		DataDir: h.dir, BinDir: binDir, Ports: h.ports, Log: slog.New(slog.DiscardHandler),
		Env: func(k string) (string, bool) { v, ok := h.env[k]; return v, ok },
	})
	if err == nil {
		c.Stop()
		t.Fatal("Start succeeded on a taken port")
	}
	if !strings.Contains(err.Error(), strconv.Itoa(taken)) {
		t.Errorf("error %q does not name the taken port %d", err, taken)
	}
	if _, err := os.Stat(filepath.Join(h.dir, "logs")); err == nil {
		t.Error("processes were started")
	}
}
