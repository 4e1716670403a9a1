package web

import (
	"strings"
	"testing"

	"clawdbot.cloud/pkg/config"
)

// TestControlURL: the Control UI's origin defaults to control.<web host>
// (control.localhost for a loopback web app), and a WEB_CONTROL_URL that
// is not an origin, is the web app's own, or is http beside an https web
// app is refused at start, saying why.
func TestControlURL(t *testing.T) {
	for _, tc := range []struct {
		name             string
		env              map[string]string
		want, wantErrSub string
	}{
		{"loopback default", map[string]string{"WEB_ADDR": "127.0.0.1:3000"}, "http://control.localhost:3000", ""},
		{"a host of its own", map[string]string{"WEB_PUBLIC_URL": "https://app.example.com"}, "https://control.app.example.com", ""},
		{"localhost", map[string]string{"WEB_PUBLIC_URL": "http://localhost:3000"}, "http://control.localhost:3000", ""},
		{"set", map[string]string{"WEB_PUBLIC_URL": "https://app.example.com", "WEB_CONTROL_URL": "https://ctl.example-claw.net/"}, "https://ctl.example-claw.net", ""},
		{"off", map[string]string{"WEB_CONTROL_URL": "off"}, "", ""},
		{"an IP address", map[string]string{"WEB_PUBLIC_URL": "http://192.0.2.10:3000"}, "", "set WEB_CONTROL_URL"},
		{"the web app's own", map[string]string{"WEB_PUBLIC_URL": "https://app.example.com", "WEB_CONTROL_URL": "https://app.example.com"}, "", "another origin"},
		{"a path", map[string]string{"WEB_CONTROL_URL": "http://control.localhost:3000/openclaw"}, "", "must be an origin"},
		{"http beside https", map[string]string{"WEB_PUBLIC_URL": "https://app.example.com", "WEB_CONTROL_URL": "http://control.app.example.com"}, "", "must be https"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			env := map[string]string{"WEB_DEV_MODE": "true", "STRIPE_WEBHOOK_SECRET": "whsec_x"}
			for k, v := range tc.env {
				env[k] = v
			}
			l := config.New(func(k string) (string, bool) { v, ok := env[k]; return v, ok })
			c := LoadConfig(l)
			err := l.Err()
			if tc.wantErrSub != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErrSub) {
					t.Fatalf("error = %v, want one saying %q", err, tc.wantErrSub)
				}
				return
			}
			if err != nil || c.ControlURL != tc.want {
				t.Fatalf("ControlURL = %q, %v; want %q", c.ControlURL, err, tc.want)
			}
		})
	}
}
