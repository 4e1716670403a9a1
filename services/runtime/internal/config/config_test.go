package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const secretURL = "postgres://cust:s3cret-pw@127.0.0.1:5432/claw_cus_1"

func validConfig() Config {
	return Config{
		CustomerID:  "cus_TEST123",
		Plan:        "pro",
		ListenAddr:  "127.0.0.1:8080",
		DatabaseURL: secretURL,
		InstanceID:  "inst-1",
		Version:     "v0.1.0",
	}
}

func encode(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDecodeValid(t *testing.T) {
	want := validConfig()
	got, err := Decode(strings.NewReader(encode(t, want)))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Decode (-want +got):\n%s", diff)
	}
}

func TestDecodeListsEveryMissingField(t *testing.T) {
	_, err := Decode(strings.NewReader(`{}`))
	if err == nil {
		t.Fatal("Decode({}) succeeded")
	}
	for _, field := range []string{"customer_id", "plan", "listen_addr", "database_url", "instance_id", "version"} {
		if !strings.Contains(err.Error(), field+" is required") {
			t.Errorf("error does not report missing %s:\n%v", field, err)
		}
	}
}

func TestValidateRejects(t *testing.T) {
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   string
	}{
		{"unknown plan", func(c *Config) { c.Plan = "gold" }, "plan: unknown plan"},
		{"plan case", func(c *Config) { c.Plan = "Pro" }, "plan: unknown plan"},
		{"addr without port", func(c *Config) { c.ListenAddr = "127.0.0.1" }, "listen_addr"},
		{"addr port not a number", func(c *Config) { c.ListenAddr = ":http" }, "listen_addr"},
		{"addr port too big", func(c *Config) { c.ListenAddr = ":70000" }, "listen_addr"},
		{"customer id with space", func(c *Config) { c.CustomerID = "cus 1" }, "customer_id"},
		{"instance id with slash", func(c *Config) { c.InstanceID = "a/b" }, "instance_id"},
		{"blank version", func(c *Config) { c.Version = "  " }, "version is required"},
		{"bad database url", func(c *Config) { c.DatabaseURL = "postgres://cust:s3cret-pw@127.0.0.1:notaport/db" }, "database_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := validConfig()
			tc.mutate(&c)
			err := c.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want an error mentioning %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "s3cret") {
				t.Errorf("error leaks the database password: %v", err)
			}
		})
	}
	if err := validConfig().Validate(); err != nil {
		t.Errorf("valid config: %v", err)
	}
	c := validConfig()
	c.ListenAddr = "127.0.0.1:0"
	if err := c.Validate(); err != nil {
		t.Errorf("port 0: %v", err)
	}
}

func TestDecodeRejectsUnknownFieldsAndSyntax(t *testing.T) {
	for _, in := range []string{
		`{"customer_id":"cus_1","plann":"pro"}`,
		`{"customer_id":`,
		`["not", "an", "object"]`,
		`{"customer_id": 42}`,
	} {
		if _, err := Decode(strings.NewReader(in)); err == nil || errors.Is(err, ErrNoConfig) {
			t.Errorf("Decode(%s) = %v, want a decoding error", in, err)
		}
	}
	if _, err := Decode(strings.NewReader("  \n")); !errors.Is(err, ErrNoConfig) {
		t.Errorf("Decode(blank) = %v, want ErrNoConfig", err)
	}
}

func TestLogValueHidesDatabaseURL(t *testing.T) {
	var buf bytes.Buffer
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("cfg", "config", validConfig())
	if strings.Contains(buf.String(), "s3cret") || strings.Contains(buf.String(), "postgres://") {
		t.Errorf("log line leaks the database URL: %s", buf.String())
	}
	if !strings.Contains(buf.String(), "cus_TEST123") {
		t.Errorf("log line lacks the customer id: %s", buf.String())
	}
}

// pipe returns the read end of a pipe holding data; the write end is closed
// unless keepOpen, in which case it stays open until the test ends (as when
// a supervisor keeps the child's stdin open).
func pipe(t *testing.T, data string, keepOpen bool) *os.File {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	if _, err := w.WriteString(data); err != nil {
		t.Fatal(err)
	}
	if !keepOpen {
		w.Close()
	}
	return r
}

// pipeOpen returns both ends of a pipe, closed when the test ends.
func pipeOpen(t *testing.T) (r, w *os.File) {
	t.Helper()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return r, w
}

func TestLoad(t *testing.T) {
	stdinCfg, envCfg := validConfig(), validConfig()
	envCfg.CustomerID = "cus_FROMENV"
	devNull, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer devNull.Close()
	env := func(v string) func(string) string {
		return func(k string) string {
			if k == EnvVar {
				return v
			}
			return ""
		}
	}
	for _, tc := range []struct {
		name    string
		stdin   func(t *testing.T) *os.File
		env     string
		want    string // customer id
		wantErr error
	}{
		{"stdin pipe", func(t *testing.T) *os.File { return pipe(t, encode(t, stdinCfg), false) }, "", "cus_TEST123", nil},
		{"stdin wins over env", func(t *testing.T) *os.File { return pipe(t, encode(t, stdinCfg), false) }, encode(t, envCfg), "cus_TEST123", nil},
		{"stdin left open", func(t *testing.T) *os.File { return pipe(t, encode(t, stdinCfg)+"\n", true) }, "", "cus_TEST123", nil},
		{"empty stdin falls back to env", func(t *testing.T) *os.File { return pipe(t, "", false) }, encode(t, envCfg), "cus_FROMENV", nil},
		{"dev null falls back to env", func(*testing.T) *os.File { return devNull }, encode(t, envCfg), "cus_FROMENV", nil},
		{"nothing anywhere", func(*testing.T) *os.File { return devNull }, "", "", ErrNoConfig},
		{"nil stdin", func(*testing.T) *os.File { return nil }, encode(t, envCfg), "cus_FROMENV", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Load(tc.stdin(t), env(tc.env))
			if !errors.Is(err, tc.wantErr) || got.CustomerID != tc.want {
				t.Fatalf("Load = %q, %v; want %q, %v", got.CustomerID, err, tc.want, tc.wantErr)
			}
		})
	}
	t.Run("invalid env names the variable", func(t *testing.T) {
		_, err := Load(devNull, env(`{"plan":"pro"}`))
		if err == nil || !strings.Contains(err.Error(), EnvVar) || !strings.Contains(err.Error(), "customer_id is required") {
			t.Fatalf("Load = %v", err)
		}
	})
}

func ExampleConfig_Validate() {
	err := Config{Plan: "pro", ListenAddr: ":8080"}.Validate()
	fmt.Println(err)
	// Output:
	// invalid runtime config: customer_id is required
	// database_url is required
	// instance_id is required
	// version is required
}
