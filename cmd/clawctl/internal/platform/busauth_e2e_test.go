package platform_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/proto/subjects"
)

// TestDevBusRequiresCredentials: the bus of `clawctl dev` lets nobody in
// without credentials, keeps the generated passwords in a 0700 directory
// of 0600 files (one per service and the operator), and holds each service
// to its permissions: the saga's own password cannot publish a signup. The
// services themselves ran a whole signup under theirs (TestSignupEndToEnd
// and every other end-to-end test run with the bus authenticated).
func TestDevBusRequiresCredentials(t *testing.T) {
	h := start(t, nil)
	if nc, err := nats.Connect(h.NATSURL); err == nil {
		nc.Close()
		t.Fatal("connected to the dev bus without credentials")
	} else if !errors.Is(err, nats.ErrAuthorization) {
		t.Fatalf("without credentials: %v, want an authorization violation", err)
	}
	dir := filepath.Join(h.dir, platform.NATSAuthDir)
	if fi, err := os.Stat(dir); err != nil || fi.Mode().Perm() != 0o700 {
		t.Fatalf("%s: %v, want a 0700 directory", dir, err)
	}
	for _, n := range busauth.Platform() {
		if fi, err := os.Stat(busauth.PasswordFile(dir, n)); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("%s's password file: %v, want mode 0600", n, err)
		}
	}
	pw, err := busauth.ReadPassword(busauth.PasswordFile(dir, busauth.Saga))
	if err != nil {
		t.Fatal(err)
	}
	denied := make(chan error, 4)
	nc, err := nats.Connect(h.NATSURL, nats.UserInfo(busauth.Saga, pw), nats.CustomInboxPrefix(busauth.InboxPrefix(busauth.Saga)),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { denied <- err }))
	if err != nil {
		t.Fatalf("as the saga: %v", err)
	}
	defer nc.Close()
	if err := nc.Publish(subjects.CustomerSignedUp, []byte("{}")); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-denied:
		if !errors.Is(err, nats.ErrPermissionViolation) || !strings.Contains(err.Error(), subjects.CustomerSignedUp) {
			t.Fatalf("publishing a signup as the saga: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the dev bus let the saga publish customer.signed_up")
	}
	// A restart keeps the passwords (and the services reconnect with them).
	h.signup(t, "starter")
	h.down(t)
	h.up(t)
	if again, err := busauth.ReadPassword(busauth.PasswordFile(dir, busauth.Saga)); err != nil || again != pw {
		t.Fatalf("the saga's password changed across a restart (%v)", err)
	}
	h.signup(t, "starter")
}
