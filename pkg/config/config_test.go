package config

import (
	"strings"
	"testing"
	"time"
)

func TestLoaderCollectsEveryProblem(t *testing.T) {
	l := FromMap(map[string]string{"A": "x", "D": "soon", "N": "seven", "U": "ftp://h", "P": "nohost"})
	_ = l.Required("MISSING", "the webhook secret")
	_ = l.Duration("D", time.Second)
	_ = l.Int("N", 1)
	_ = l.URL("U", "", "http", "https")
	_ = l.Addr("P", "")
	if got := l.String("A", "def"); got != "x" {
		t.Fatalf("String = %q", got)
	}
	err := l.Err()
	if err == nil {
		t.Fatal("Err = nil, want the problems")
	}
	for _, want := range []string{"MISSING is required", "D=\"soon\"", "N=\"seven\"", "U must use", "P=\"nohost\""} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
}

func TestLoaderDefaults(t *testing.T) {
	l := FromMap(map[string]string{"EMPTY": "  "})
	if got := l.String("EMPTY", "def"); got != "def" {
		t.Errorf("blank value should fall back to default, got %q", got)
	}
	if got := l.Duration("X", 3*time.Second); got != 3*time.Second {
		t.Errorf("Duration default = %v", got)
	}
	if err := l.Err(); err != nil {
		t.Errorf("Err = %v", err)
	}
}
