// Package testkit is what the compute service's tests share: the real
// customer runtime built once per test binary, customers with a database of
// their own, and readers of the events the service publishes.
package testkit

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"
	"google.golang.org/protobuf/proto"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/pgtest"
	"clawdbot.cloud/pkg/secrets"
	"clawdbot.cloud/pkg/servicetest"
	"clawdbot.cloud/proto/subjects"
)

// RuntimePackage is the customer runtime's main package.
const RuntimePackage = "clawdbot.cloud/services/runtime/cmd/runtime"

// ServicePackage is the compute service's own main package.
const ServicePackage = "clawdbot.cloud/services/railway/cmd/railway"

// Build compiles the main package pkg into an executable named after its
// last path element, for the test binary named name, and returns its path.
// It builds into a fixed directory under the system's temporary directory
// (replacing the file atomically), because pgtest.Main exits the test binary
// and leaves no place to remove a per-run directory; the Go build cache
// keeps rebuilds fast.
func Build(name, pkg string) (string, error) {
	dir := filepath.Join(os.TempDir(), "clawdbot-railway-tests", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	tmp, err := os.MkdirTemp(dir, "build-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(tmp)
	exe := filepath.Base(pkg)
	cmd := exec.Command("go", "build", "-o", filepath.Join(tmp, exe), pkg)
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0") // as make build and the images
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
	}
	bin := filepath.Join(dir, exe)
	if err := os.Rename(filepath.Join(tmp, exe), bin); err != nil {
		return "", err
	}
	return bin, nil
}

// MustBuild is Build for TestMain: it exits the test binary when pkg does
// not build.
func MustBuild(name, pkg string) string {
	bin, err := Build(name, pkg)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testkit:", err)
		os.Exit(1)
	}
	return bin
}

// MustBuildRuntime builds the real customer runtime (see MustBuild).
func MustBuildRuntime(name string) string { return MustBuild(name, RuntimePackage) }

// Customer is a test customer with a database of its own, whose URL is in
// the secret store under DatabaseRef.
type Customer struct {
	ID          string
	DatabaseRef string
	DatabaseURL string
}

// ServiceID is the customer's compute service name.
func (c Customer) ServiceID() string { return names.Service(c.ID) }

// NewCustomer creates a customer and its database (dropped when the test ends).
func NewCustomer(t testing.TB, sec *secrets.Store) Customer {
	t.Helper()
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	c := Customer{ID: "cus_T" + hex.EncodeToString(b), DatabaseURL: pgtest.NewDatabase(t)}
	c.DatabaseRef = names.DatabaseRef(c.ID)
	if err := sec.Put(context.Background(), c.DatabaseRef, []byte(c.DatabaseURL)); err != nil {
		t.Fatalf("store database secret: %v", err)
	}
	return c
}

// Health returns the status of GET url/health, or an error when nothing answers.
func Health(url string) (int, error) {
	client := &http.Client{Timeout: 3 * time.Second}
	resp, err := client.Get(url + "/health")
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// Events reads what was published on the platform's streams.
type Events struct {
	JS jetstream.JetStream
}

// Count returns how many messages subject holds in stream.
func (e Events) Count(t testing.TB, stream, subject string) int {
	t.Helper()
	return servicetest.Count(t, e.JS, stream, subject)
}

// Published returns how many events subject holds.
func (e Events) Published(t testing.TB, subject string) int {
	t.Helper()
	return e.Count(t, subjects.Stream, subject)
}

// DeadLetters returns how many messages consumer dead-lettered.
func (e Events) DeadLetters(t testing.TB, consumer string) int {
	t.Helper()
	return e.Count(t, subjects.DeadLetterStream, subjects.DeadLetterPrefix+consumer)
}

// Last decodes the last event on subject into dst.
func (e Events) Last(t testing.TB, subject string, dst proto.Message) {
	t.Helper()
	servicetest.Last(t, e.JS, subjects.Stream, subject, dst)
}

// Refused reports whether nothing answers at url.
func Refused(url string) bool {
	_, err := Health(url)
	return err != nil
}
