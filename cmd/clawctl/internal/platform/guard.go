package platform

import (
	"net"
	"strings"

	"clawdbot.cloud/pkg/config"
)

// devSecretsInUse names the dev secrets a run would use: the constants in
// this file's package (printed at start, and in the source) stand in for
// whichever of STRIPE_WEBHOOK_SECRET, ADMIN_TOKEN and
// INGRESS_INTERNAL_TOKEN is unset.
func devSecretsInUse(env func(string) (string, bool), webhookSecret string) []string {
	var out []string
	if webhookSecret == DevWebhookSecret {
		out = append(out, "STRIPE_WEBHOOK_SECRET (the dev webhook secret)")
	}
	for key, dev := range map[string]string{"ADMIN_TOKEN": DevAdminToken, "INGRESS_INTERNAL_TOKEN": DevInternalToken} {
		if v, _ := env(key); v == "" || v == dev {
			out = append(out, key+" (the dev token)")
		}
	}
	return out
}

// guardDevSecrets refuses what would put the dev secrets within reach of
// others or of real money: with any of them in use, every listen address
// must be loopback (anyone who can reach the ingress could forge signups with
// the dev webhook secret, deprovision customers with the dev admin token,
// open billing portals with the dev internal token; anyone who can reach
// NATS can do all of that and more), and the Stripe key must not be live.
// Each problem goes to l with what to change.
func guardDevSecrets(l *config.Loader, env func(string) (string, bool), s Settings) {
	inUse := devSecretsInUse(env, s.WebhookSecret)
	if len(inUse) == 0 {
		return
	}
	why := "clawctl dev is using its dev secrets, which are public: " + strings.Join(inUse, ", ") +
		"; set them to real secrets (openssl rand -hex 32), or "
	addrs := [][2]string{{"INGRESS_ADDR", s.IngressAddr}, {"WEB_ADDR", s.WebAddr}}
	if s.NATSURL == "" {
		addrs = append(addrs, [2]string{"EMBEDDED_NATS_ADDR", s.NATSAddr})
	}
	for _, a := range addrs {
		if !loopback(a[1]) {
			l.Problem("%s=%s is not a loopback address: %slisten on 127.0.0.1", a[0], a[1], why)
		}
	}
	if key, _ := env("STRIPE_SECRET_KEY"); strings.HasPrefix(key, "sk_live_") || strings.HasPrefix(key, "rk_live_") {
		l.Problem("STRIPE_SECRET_KEY is a live key: %suse a test key (sk_test_...)", why)
	}
}

// loopback reports whether the listen address hostport only accepts
// connections from this machine. An empty host listens everywhere.
func loopback(hostport string) bool {
	host, _, err := net.SplitHostPort(hostport)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
