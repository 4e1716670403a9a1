package main

import "testing"

func TestTarget(t *testing.T) {
	t.Setenv("PORT", "")
	t.Setenv("OPS_ADDR", "0.0.0.0:9091")
	for _, tc := range []struct {
		args []string
		want string
	}{
		{nil, "http://127.0.0.1:8080/health"},
		{[]string{"ops"}, "http://127.0.0.1:9091/readyz"},
	} {
		if got, err := target(tc.args); err != nil || got != tc.want {
			t.Errorf("target(%v) = %q, %v; want %q", tc.args, got, err, tc.want)
		}
	}
	t.Setenv("OPS_ADDR", "")
	if _, err := target([]string{"ops"}); err == nil {
		t.Error("ops without OPS_ADDR accepted")
	}
}
