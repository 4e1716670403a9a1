package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nats-io/nats-server/v2/server"

	"clawdbot.cloud/pkg/busauth"
)

// nats-auth writes a server config the real server loads, with a user per
// platform principal and no password in it, and each password in a 0600
// file of a 0700 directory; it prints no secret, and a second run keeps
// the passwords unless --rotate.
func TestNATSAuthWritesConfigAndSecrets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "secrets")
	out, stderr, code := runCLI(t, "", false, "nats-auth", "--out", dir, "--tls-hosts", "nats-1,127.0.0.1")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if st, err := os.Stat(dir); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("dir: %v %v", st.Mode(), err)
	}
	conf, err := os.ReadFile(filepath.Join(dir, "auth.conf"))
	if err != nil {
		t.Fatal(err)
	}
	first := map[string]string{}
	for _, n := range busauth.Platform() {
		f := busauth.PasswordFile(dir, n)
		st, err := os.Stat(f)
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("%s: %v %v", f, st, err)
		}
		pw, err := busauth.ReadPassword(f)
		if err != nil {
			t.Fatal(err)
		}
		first[n] = pw
		if strings.Contains(out+stderr, pw) || strings.Contains(string(conf), pw) {
			t.Errorf("%s's password printed or in auth.conf", n)
		}
	}
	// The server's own parser reads it (an include, as cluster.conf does).
	main := filepath.Join(dir, "main.conf")
	if err := os.WriteFile(main, []byte("include ./auth.conf\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	opts, err := server.ProcessConfigFile(main)
	if err != nil {
		t.Fatal(err)
	}
	if len(opts.Users) != len(busauth.Platform()) {
		t.Errorf("%d users, want %d", len(opts.Users), len(busauth.Platform()))
	}
	for _, f := range []string{"ca.pem", "server.pem", "server-key.pem"} {
		if _, err := os.Stat(filepath.Join(dir, f)); err != nil {
			t.Error(err)
		}
	}
	if _, stderr, code := runCLI(t, "", false, "nats-auth", "--out", dir); code != 0 {
		t.Fatal(stderr)
	}
	if pw, _ := busauth.ReadPassword(busauth.PasswordFile(dir, busauth.Saga)); pw != first[busauth.Saga] {
		t.Error("a second run changed the saga's password without --rotate")
	}
	if _, stderr, code := runCLI(t, "", false, "nats-auth", "--out", dir, "--rotate"); code != 0 {
		t.Fatal(stderr)
	}
	if pw, _ := busauth.ReadPassword(busauth.PasswordFile(dir, busauth.Saga)); pw == first[busauth.Saga] {
		t.Error("--rotate kept the saga's password")
	}
}
