package process

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestOutputIsLoggedLineByLineAndRedacted(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dbURL := "postgres://claw_x:s3cretpassw0rd@db:5432/claw_x"
	w := newLineLogger(log, "stderr", secretsOf(dbURL))
	for _, chunk := range []string{"first li", "ne\nconnecting to " + dbURL + "\n", "pw=s3cretpassw0rd\r\n", "no newline"} {
		if _, err := w.Write([]byte(chunk)); err != nil {
			t.Fatal(err)
		}
	}
	w.Flush()
	out := logs.String()
	if strings.Contains(out, "s3cretpassw0rd") {
		t.Errorf("a secret reached the log:\n%s", out)
	}
	var lines []string
	for l := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		_, after, _ := strings.Cut(l, "line=")
		lines = append(lines, after)
	}
	want := []string{`"first line"`, `"connecting to [redacted]"`, `"pw=[redacted]"`, `"no newline"`}
	if diff := cmp.Diff(want, lines); diff != "" {
		t.Errorf("logged lines (-want +got):\n%s", diff)
	}
}

func TestLimitEnv(t *testing.T) {
	tests := []struct {
		vcpus    float64
		memoryMB int
		want     []string
	}{
		{0.5, 512, []string{"GOMEMLIMIT=460MiB", "GOMAXPROCS=1"}},
		{1, 1024, []string{"GOMEMLIMIT=921MiB", "GOMAXPROCS=1"}},
		{2, 2048, []string{"GOMEMLIMIT=1843MiB", "GOMAXPROCS=2"}},
		{1.5, 0, []string{"GOMAXPROCS=2"}},
	}
	for _, tt := range tests {
		if diff := cmp.Diff(tt.want, limitEnv(tt.vcpus, tt.memoryMB)); diff != "" {
			t.Errorf("limitEnv(%v, %d) (-want +got):\n%s", tt.vcpus, tt.memoryMB, diff)
		}
	}
}
