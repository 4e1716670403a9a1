package config

import (
	"errors"
	"strings"
	"testing"
)

func validWarm() Warm {
	return Warm{Warm: true, DatabaseURL: secretURL, InstanceID: "pool-1"}
}

// A warm document first, then the customer's configuration on the same
// stream, written later.
func TestLoadStagedReadsAWarmDocumentThenTheConfig(t *testing.T) {
	cfg := validConfig()
	r, w := pipeOpen(t)
	if _, err := w.WriteString(encode(t, validWarm()) + "\n"); err != nil {
		t.Fatal(err)
	}
	s, err := LoadStaged(r, func(k string) string {
		if k == "ANTHROPIC_API_KEY" {
			return "sk-test"
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if s.Warm == nil || *s.Warm != validWarm() {
		t.Fatalf("Warm = %+v, want %+v", s.Warm, validWarm())
	}
	got := make(chan Config, 1)
	errc := make(chan error, 1)
	go func() {
		c, err := s.Next()
		got <- c
		errc <- err
	}()
	if _, err := w.WriteString(encode(t, cfg)); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	c := <-got
	if c.CustomerID != cfg.CustomerID || c.DatabaseURL != cfg.DatabaseURL || c.Env.AnthropicAPIKey != "sk-test" {
		t.Fatalf("Next = %+v", c)
	}
}

func TestLoadStaged(t *testing.T) {
	noEnv := func(string) string { return "" }
	t.Run("a config alone, as before", func(t *testing.T) {
		s, err := LoadStaged(pipe(t, encode(t, validConfig()), true), noEnv)
		if err != nil || s.Warm != nil || s.Config.CustomerID != "cus_TEST123" {
			t.Fatalf("LoadStaged = %+v, %v", s, err)
		}
		if _, err := s.Next(); err == nil {
			t.Fatal("Next after a config: no error")
		}
	})
	t.Run("Load refuses a warm document", func(t *testing.T) {
		if _, err := Load(pipe(t, encode(t, validWarm()), false), noEnv); err == nil {
			t.Fatal("Load of a warm document: no error")
		}
	})
	t.Run("stream ends before the config", func(t *testing.T) {
		s, err := LoadStaged(pipe(t, encode(t, validWarm()), false), noEnv)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.Next(); !errors.Is(err, ErrNoConfig) {
			t.Fatalf("Next = %v, want ErrNoConfig", err)
		}
	})
	for _, tc := range []struct {
		name, stdin, want string
	}{
		{"unknown member", `{"warm":true,"database_url":"postgres://a@b/c","instance_id":"p","customer_id":"cus_1"}`, `unknown field "customer_id"`},
		{"warm false", `{"warm":false,"database_url":"postgres://a@b/c","instance_id":"p"}`, "warm must be true"},
		{"no database", `{"warm":true,"instance_id":"p"}`, "database_url is required"},
		{"bad instance id", `{"warm":true,"database_url":"postgres://a@b/c","instance_id":"p q"}`, "instance_id"},
		{"bad config after warm", encode(t, validWarm()) + `{"plan":"pro"}`, "customer_id is required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, err := LoadStaged(pipe(t, tc.stdin, false), noEnv)
			if err == nil {
				_, err = s.Next()
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "postgres://") {
				t.Fatalf("error shows the database URL: %v", err)
			}
		})
	}
}
