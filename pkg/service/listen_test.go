package service_test

import (
	"context"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/config"
	"clawdbot.cloud/pkg/service"
)

// Two replicas share a port only when HTTP_REUSEPORT says so; a bad value
// is an error that names the setting.
func TestListenReusePort(t *testing.T) {
	envWith := func(v string) *service.Env {
		return &service.Env{Config: config.New(func(k string) (string, bool) {
			if k == service.ReusePortKey && v != "" {
				return v, true
			}
			return "", false
		})}
	}
	ctx := context.Background()
	first, err := envWith("true").Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	addr := first.Addr().String()
	second, err := envWith("true").Listen(ctx, addr)
	if err != nil {
		t.Fatalf("second listener with %s=true: %v", service.ReusePortKey, err)
	}
	second.Close()
	if ln, err := envWith("").Listen(ctx, addr); err == nil {
		ln.Close()
		t.Errorf("a listener without %s shared %s", service.ReusePortKey, addr)
	}
	if _, err := envWith("maybe").Listen(ctx, "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), service.ReusePortKey) {
		t.Errorf("Listen with %s=maybe: %v, want an error naming the setting", service.ReusePortKey, err)
	}
}
