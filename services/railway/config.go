package railway

import (
	"os"
	"path/filepath"
	"time"

	"clawdbot.cloud/pkg/config"
)

// Config is the compute service's own configuration, read from the
// environment (the platform-wide settings are read by pkg/service).
type Config struct {
	// Driver is the compute backend (COMPUTE_DRIVER): "process", the
	// embedded default, is the only one so far.
	Driver string
	// RuntimeBinary is the customer runtime executable the process driver
	// runs (RUNTIME_BINARY), absolute.
	RuntimeBinary string
	// RuntimeVersion is the release the runtimes report (RUNTIME_VERSION).
	RuntimeVersion string
	// StartTimeout bounds the wait for a runtime to answer (RUNTIME_START_TIMEOUT).
	StartTimeout time.Duration
	// StopGrace is a runtime's time to exit after SIGTERM (RUNTIME_STOP_GRACE).
	StopGrace time.Duration
	// RuntimeEnv is the runtimes' environment: the variables of
	// ForwardedVars that are set.
	RuntimeEnv []string
}

// ForwardedVars are the settings of the compute service that reach every
// runtime's environment: model-provider settings and process basics. Nothing
// else is passed on: the service's environment also holds the control-plane
// DATABASE_URL and CLAW_ENCRYPTION_KEY, which a customer's runtime must
// never see.
var ForwardedVars = []string{
	"ANTHROPIC_API_KEY", "ANTHROPIC_BASE_URL", "OPENAI_API_KEY", "OPENAI_BASE_URL",
	"LOG_FORMAT", "PATH", "HOME", "TMPDIR", "TZ", "LANG",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "HTTP_PROXY", "HTTPS_PROXY", "NO_PROXY",
}

// LoadConfig reads the configuration from l, recording every problem in l
// (the caller returns l.Err()).
func LoadConfig(l *config.Loader) Config {
	c := Config{
		Driver:         l.OneOf("COMPUTE_DRIVER", "process", "process"),
		RuntimeVersion: l.String("RUNTIME_VERSION", "dev"),
		StartTimeout:   l.Duration("RUNTIME_START_TIMEOUT", time.Minute),
		StopGrace:      l.Duration("RUNTIME_STOP_GRACE", 15*time.Second),
	}
	if c.Driver == "process" {
		c.RuntimeBinary = l.Required("RUNTIME_BINARY",
			"the customer runtime executable the process compute driver runs (`make build` produces bin/runtime)")
		if c.RuntimeBinary != "" {
			c.RuntimeBinary = checkBinary(l, c.RuntimeBinary)
		}
	}
	for _, k := range ForwardedVars {
		if v, ok := l.Lookup(k); ok {
			c.RuntimeEnv = append(c.RuntimeEnv, k+"="+v)
		}
	}
	return c
}

// checkBinary returns path made absolute, recording a problem unless it is
// an executable file.
func checkBinary(l *config.Loader, path string) string {
	abs, err := filepath.Abs(path)
	if err != nil {
		l.Problem("RUNTIME_BINARY=%q: %v", path, err)
		return path
	}
	fi, err := os.Stat(abs)
	switch {
	case err != nil:
		l.Problem("RUNTIME_BINARY=%q does not exist (run `make build`, which produces bin/runtime)", path)
	case !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0:
		l.Problem("RUNTIME_BINARY=%q is not an executable file", path)
	}
	return abs
}
