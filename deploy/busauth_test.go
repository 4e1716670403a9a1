package deploy_test

import (
	"context"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/pkg/busauth"
	"clawdbot.cloud/pkg/busauth/serverconf"
)

// Every platform service connects over TLS as its own NATS user, its
// password a Docker secret; compose defines each secret it uses from the
// directory `clawctl nats-auth` writes, and no password is in the file.
func TestComposeBusAuth(t *testing.T) {
	var c struct {
		Services map[string]struct {
			Environment map[string]string `yaml:"environment"`
			Secrets     []any             `yaml:"secrets"`
			Build       *struct {
				Args map[string]string `yaml:"args"`
			} `yaml:"build"`
		} `yaml:"services"`
		Secrets map[string]struct {
			File string `yaml:"file"`
		} `yaml:"secrets"`
	}
	readYAML(t, "docker-compose.yml", &c)
	secretNames := func(list []any) []string {
		var out []string
		for _, s := range list {
			switch v := s.(type) {
			case string:
				out = append(out, v)
			case map[string]any:
				out = append(out, v["source"].(string))
			}
		}
		return out
	}
	for name, s := range c.Services {
		for _, sec := range secretNames(s.Secrets) {
			def, ok := c.Secrets[sec]
			if !ok || !strings.HasPrefix(def.File, "./nats/secrets/") {
				t.Errorf("%s uses secret %s: defined as %+v, want a file of ./nats/secrets/", name, sec, def)
			}
		}
		if strings.HasPrefix(name, "nats-") && !strings.HasPrefix(name, "nats-exporter-") {
			got := secretNames(s.Secrets)
			for _, want := range []string{"nats-auth-conf", "nats-ca", "nats-cert", "nats-key"} {
				if !slices.Contains(got, want) {
					t.Errorf("%s lacks secret %s", name, want)
				}
			}
			continue
		}
		if s.Build == nil || s.Build.Args["SERVICE"] == "" {
			continue
		}
		svc := s.Build.Args["SERVICE"]
		env := s.Environment
		if _, ok := busauth.Lookup(env["NATS_USER"]); !ok || env["NATS_USER"] != svc {
			t.Errorf("%s: NATS_USER=%q, want its own principal %q", name, env["NATS_USER"], svc)
		}
		if env["NATS_PASSWORD_FILE"] != "/run/secrets/nats-"+svc || !slices.Contains(secretNames(s.Secrets), "nats-"+svc) {
			t.Errorf("%s: NATS_PASSWORD_FILE=%q secrets=%v, want its own secret nats-%s", name, env["NATS_PASSWORD_FILE"], s.Secrets, svc)
		}
		if env["NATS_PASSWORD"] != "" {
			t.Errorf("%s: a password in the compose file", name)
		}
		for _, u := range strings.Split(env["NATS_URL"], ",") {
			if !strings.HasPrefix(u, "tls://") {
				t.Errorf("%s: NATS_URL %s is not TLS", name, u)
			}
		}
		if env["NATS_CA"] != "/run/secrets/nats-ca" || !slices.Contains(secretNames(s.Secrets), "nats-ca") {
			t.Errorf("%s: NATS_CA=%q", name, env["NATS_CA"])
		}
	}
}

// clusterWithSecrets writes what `clawctl nats-auth` writes beside a copy of
// nats/cluster.conf whose /etc/nats paths point at a temporary directory,
// and parses it with the server's own parser.
func clusterWithSecrets(t *testing.T, name string) (*server.Options, busauth.Credentials, string) {
	t.Helper()
	dir := t.TempDir()
	creds, err := busauth.LoadOrCreate(dir, busauth.Platform())
	if err != nil {
		t.Fatal(err)
	}
	users, err := serverconf.Users(creds, serverconf.Cost)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Create(filepath.Join(dir, "auth.conf"))
	if err != nil {
		t.Fatal(err)
	}
	if err := serverconf.WriteConfig(f, users); err != nil {
		t.Fatal(err)
	}
	f.Close()
	if err := serverconf.WriteTLS(filepath.Join(dir, "tls"), []string{"nats-1", "nats-2", "nats-3", "localhost", "127.0.0.1"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	conf, err := os.ReadFile("nats/cluster.conf")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(conf), "/etc/nats/", dir+"/")
	text = strings.ReplaceAll(text, "/data/jetstream", filepath.Join(dir, "js"))
	if err := os.WriteFile(filepath.Join(dir, "cluster.conf"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("NATS_SERVER_NAME", name)
	opts, err := server.ProcessConfigFile(filepath.Join(dir, "cluster.conf"))
	if err != nil {
		t.Fatal(err)
	}
	return opts, creds, dir
}

// The cluster configuration with generated secrets: TLS for clients,
// mutual TLS on routes, and exactly the platform's users with pkg/busauth's
// permissions. A node started from it (alone) refuses clients without a
// user or without TLS and lets a service in as itself.
func TestNATSClusterAuthAndTLS(t *testing.T) {
	opts, creds, dir := clusterWithSecrets(t, "nats-1")
	if opts.TLSConfig == nil || !opts.TLSVerify && opts.TLSConfig.ClientCAs == nil {
		t.Errorf("clients: no TLS (%+v)", opts.TLSConfig)
	}
	if opts.Cluster.TLSConfig == nil || opts.Cluster.TLSConfig.ClientAuth != tls.RequireAndVerifyClientCert {
		t.Errorf("routes: TLS %+v; want mutual TLS (a verified certificate from each node)", opts.Cluster.TLSConfig)
	}
	if opts.NoAuthUser != "" {
		t.Errorf("no_auth_user %q lets clients in without credentials", opts.NoAuthUser)
	}
	var names []string
	for _, u := range opts.Users {
		names = append(names, u.Username)
		p, _ := busauth.Lookup(u.Username)
		if u.Permissions == nil || !slices.Equal(u.Permissions.Publish.Allow, p.PublishAllow()) ||
			!slices.Equal(u.Permissions.Subscribe.Allow, p.SubscribeAllow()) || (u.Permissions.Response != nil) != p.Responds {
			t.Errorf("user %s: permissions %+v differ from pkg/busauth", u.Username, u.Permissions)
		}
		if !strings.HasPrefix(u.Password, "$2a$") {
			t.Errorf("user %s: password is not a bcrypt hash", u.Username)
		}
	}
	slices.Sort(names)
	want := busauth.Platform()
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Errorf("users %v, want %v", names, want)
	}

	// One node, alone: no routes, free ports.
	opts.Host, opts.Routes, opts.Cluster.Port, opts.Port, opts.HTTPPort, opts.NoSigs, opts.NoLog = "127.0.0.1", nil, 0, -1, 0, true, true
	opts.Cluster.Name, opts.Cluster.Host = "", ""
	s, err := server.NewServer(opts)
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	t.Cleanup(s.Shutdown)
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("server not ready")
	}
	addr := s.Addr().String()
	ca := filepath.Join(dir, "tls", serverconf.CAFile)
	ctx := context.Background()
	log := slog.New(slog.DiscardHandler)
	if _, err := bus.Connect(ctx, "tls://"+addr, "x", log, nil, bus.WithTLSCA(ca)); err == nil {
		t.Error("TLS without a user: connected")
	}
	if nc, err := nats.Connect("nats://"+addr, nats.UserInfo(busauth.Saga, creds[busauth.Saga])); err == nil {
		nc.Close()
		t.Error("a user without TLS: connected")
	}
	b, err := bus.Connect(ctx, "tls://"+addr, "saga", log, nil, bus.WithCredentials(busauth.Saga, creds[busauth.Saga]), bus.WithTLSCA(ca))
	if err != nil {
		t.Fatalf("saga over TLS: %v", err)
	}
	defer b.Close()
	if err := b.Setup(ctx, bus.StreamOptions{}); err != nil {
		t.Fatalf("saga creates the streams: %v", err)
	}
}
