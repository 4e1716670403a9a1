package process

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// TestIsolationFallsBackWithoutRoot: as a normal user (a developer's `make
// run`), "auto" runs runtimes unisolated and says so in a warning; "on"
// refuses to start; "off" warns as well.
func TestIsolationFallsBackWithoutRoot(t *testing.T) {
	for _, tc := range []struct {
		mode, wantErr, wantLog string
	}{
		{IsolationAuto, "", "not running as root"},
		{IsolationOn, "does not run as root", ""},
		{IsolationOff, "", "runtime isolation is off"},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			var logs bytes.Buffer
			o := Options{Binary: "/bin/true", WorkDir: t.TempDir()}
			o.defaults()
			o.Isolation.Mode = tc.mode
			iso, err := setupIsolation(&o, slog.New(slog.NewTextHandler(&logs, nil)), 1000)
			if iso != nil {
				t.Fatal("isolation set up for a normal user")
			}
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("setupIsolation = %v, want error containing %q", err, tc.wantErr)
			}
			if tc.wantLog != "" && !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), tc.wantLog) {
				t.Errorf("logs %q, want a warning containing %q", logs.String(), tc.wantLog)
			}
		})
	}
}
