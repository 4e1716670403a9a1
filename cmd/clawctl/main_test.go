package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

// runCLI runs clawctl in-process with args, stdin and whether stdin is a
// terminal, and returns what it printed and its exit code.
func runCLI(t *testing.T, stdin string, tty bool, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = execute(context.Background(), args, streams{
		in: strings.NewReader(stdin), out: &out, errOut: &errOut, isTerminal: func() bool { return tty },
	})
	return out.String(), errOut.String(), code
}

// Usage errors exit 2 with a message naming the mistake; --version and
// completion work without any platform.
func TestUsage(t *testing.T) {
	for _, tc := range []struct {
		name       string
		args       []string
		code       int
		out, error string
	}{
		{"no command", nil, 2, "", "name a command"},
		{"unknown command", []string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{"suggestion", []string{"sagaz"}, 2, "", "did you mean saga"},
		{"unknown flag", []string{"sagas", "--frob"}, 2, "", "unknown flag: --frob"},
		{"bad flag value", []string{"sagas", "--limit", "many"}, 2, "", `invalid argument "many"`},
		{"missing argument", []string{"customer"}, 2, "", "want exactly one customer id"},
		{"extra argument", []string{"saga", "a", "b"}, 2, "", "want exactly one saga id"},
		{"sagas positional", []string{"sagas", "failed"}, 2, "", "--state"},
		{"deadletters without verb", []string{"deadletters"}, 2, "", "name a command"},
		{"deadletters unknown verb", []string{"deadletters", "purge"}, 2, "", `unknown command "purge"`},
		{"redrive without target", []string{"deadletters", "redrive"}, 2, "", "--seq N, --consumer NAME or --all"},
		{"redrive all and seq", []string{"deadletters", "redrive", "--all", "--seq", "3"}, 2, "", "neither --seq nor --consumer"},
		{"stripe without event", []string{"stripe"}, 2, "", "name a command"},
		{"stripe unknown event", []string{"stripe", "refund", "--customer", "c", "--subscription", "s"}, 2, "", `unknown command "refund"`},
		{"stripe without customer", []string{"stripe", "cancel"}, 2, "", "--customer and --subscription are required"},
		{"signup without email", []string{"signup"}, 2, "", "--email is required"},
		{"bench n", []string{"bench", "-n", "0"}, 2, "", "-n must be at least 1"},
		{"bench --n alias", []string{"bench", "--n", "0"}, 2, "", "-n must be at least 1"},
		{"bench --signups", []string{"bench", "--signups=-1"}, 2, "", "-n must be at least 1"},
		{"bench bus-auth", []string{"bench", "--bus-auth", "maybe"}, 2, "", "--bus-auth is on, off or both"},
		{"bench bus-auth with url", []string{"bench", "--bus-auth", "off", "--url", "http://127.0.0.1:1"}, 2, "", "not to --url"},
		{"bench pool", []string{"bench", "--pool", "maybe"}, 2, "", "--pool is on, off or both"},
		{"bench pool with url", []string{"bench", "--pool", "off", "--url", "http://127.0.0.1:1"}, 2, "", "not to --url"},
		{"bench trace with url", []string{"bench", "--trace", "--url", "http://127.0.0.1:1"}, 2, "", "--trace records the spans"},
		{"bench trace with json", []string{"bench", "--trace", "--json"}, 2, "", "--trace records the spans"},
		{"bench live", []string{"bench", "--live", "-1"}, 2, "", "--live is a growing list"},
		{"bench live order", []string{"bench", "--live", "100,50"}, 2, "", "--live is a growing list"},
		{"nats-auth without out", []string{"nats-auth"}, 2, "", "--out is required"},
		{"cluster replicas", []string{"cluster", "--replicas", "0"}, 2, "", "--replicas must be at least 1"},
		{"cluster sync", []string{"cluster", "--sync", "sometimes"}, 2, "", "--sync is \"always\" or a duration"},
		{"cluster positional", []string{"cluster", "now"}, 2, "", "unknown command"},
		{"version", []string{"--version"}, 0, "clawctl ", ""},
		{"help", []string{"--help"}, 0, "deadletters", ""},
		{"completion", []string{"completion", "bash"}, 0, "bash completion V2 for clawctl", ""},
		{"completion zsh", []string{"completion", "zsh"}, 0, "#compdef clawctl", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, "", false, tc.args...)
			if code != tc.code {
				t.Errorf("exit code %d, want %d\nstdout: %s\nstderr: %s", code, tc.code, out, errOut)
			}
			if !strings.Contains(out, tc.out) {
				t.Errorf("stdout lacks %q:\n%s", tc.out, out)
			}
			if !strings.Contains(errOut, tc.error) {
				t.Errorf("stderr lacks %q:\n%s", tc.error, errOut)
			}
			if tc.code == 2 && !strings.Contains(errOut, "--help' for usage") {
				t.Errorf("usage error without a pointer to --help:\n%s", errOut)
			}
		})
	}
}
