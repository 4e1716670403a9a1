package railway

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/url"
	"strconv"
	"strings"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/railway/internal/adapters/railway/gql"
	"clawdbot.cloud/services/railway/internal/runtimeconfig"
)

// runtimePort is where the runtime listens in its container, the PORT
// Railway routes the service's domain to.
const runtimePort = 8080

// RuntimeConfigVar is the service variable holding the runtime's JSON
// configuration (services/runtime/internal/config.EnvVar): on Railway
// nothing writes the runtime's stdin, so it reads this instead.
const RuntimeConfigVar = "RUNTIME_CONFIG_JSON"

// variables are the service variables of a customer's runtime: the
// configured base (model-provider settings), PORT, and its configuration.
// Railway keeps variables encrypted; they hold the database URL, so they
// are never logged.
func (d *Driver) variables(ctx context.Context, in *instance, customerID string, plan plans.Plan, dbURL string) (map[string]string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return nil, err
	}
	// One token per customer, kept across deployments and resizes.
	token, err := d.o.Secrets.PutIfAbsent(ctx, names.InstanceTokenRef(customerID), []byte(base64.RawURLEncoding.EncodeToString(b)))
	if err != nil {
		return nil, fmt.Errorf("instance token: %w", err)
	}
	public := ""
	if in.domain != "" {
		// Railway's edge terminates TLS for the domain: the runtime's
		// Telegram channel can take webhooks there.
		public = d.url(in)
	}
	cfg, err := json.Marshal(runtimeconfig.Document{
		PublicURL:     public,
		CustomerID:    customerID,
		Plan:          plan.ID,
		Engine:        plan.Engine,
		ListenAddr:    net.JoinHostPort("", strconv.Itoa(runtimePort)),
		DatabaseURL:   dbURL,
		InstanceID:    in.name,
		Version:       d.o.Version,
		InstanceToken: string(token),
		Provider:      d.o.Provider,
		Model:         d.o.Model,
	})
	if err != nil {
		return nil, err
	}
	vars := maps.Clone(d.o.Vars)
	if vars == nil {
		vars = map[string]string{}
	}
	vars["PORT"] = strconv.Itoa(runtimePort)
	vars[RuntimeConfigVar] = string(cfg)
	return vars, nil
}

// deploy sets the service's variables, deploys it and waits for the
// deployment to settle.
func (d *Driver) deploy(ctx context.Context, in *instance, customerID string, plan plans.Plan, dbURL string) error {
	vars, err := d.variables(ctx, in, customerID, plan, dbURL)
	if err != nil {
		return err
	}
	if _, err := gql.UpsertVariables(ctx, d.gql, d.o.ProjectID, d.o.EnvironmentID, in.serviceID, vars); err != nil {
		// A GraphQL server may quote a variable it refuses: keep the
		// database URL out of the error, which reaches logs and events.
		return fmt.Errorf("set variables: %w", redact(classify(err), dbURL))
	}
	before := ""
	if in.deployment != nil {
		before = in.deployment.id
	}
	for try := 1; ; try++ {
		resp, err := gql.DeployInstance(ctx, d.gql, in.serviceID, d.o.EnvironmentID)
		if err == nil {
			in.deployment = &deployment{id: resp.ServiceInstanceDeployV2, status: gql.DeploymentStatusQueued}
			break
		}
		if !ambiguous(err) || try == createTries {
			return fmt.Errorf("deploy: %w", classify(err))
		}
		// The deployment may have started: adopt it rather than deploy twice.
		now, rerr := d.read(ctx, in.serviceID)
		if rerr != nil {
			return fmt.Errorf("deploy: %w (then: %w)", err, rerr)
		}
		if dep := now.deployment; dep != nil && dep.id != before && (dep.pending() || dep.running()) {
			in.deployment = dep
			break
		}
	}
	d.log.Info("railway deployment started", "service_id", in.name, "deployment_id", in.deployment.id)
	return d.await(ctx, in.deployment.id)
}

// await polls deployment id until it runs (nil), ends for good
// (ErrDeployFailed) or DeployTimeout passes (a retryable error: the next
// attempt finds it and waits again).
func (d *Driver) await(ctx context.Context, id string) error {
	deadline := d.o.Clock.Now().Add(d.o.DeployTimeout)
	for {
		if err := d.o.Clock.Sleep(ctx, d.o.PollInterval); err != nil {
			return err
		}
		resp, err := gql.Deployment(ctx, d.gql, id)
		if err != nil {
			return fmt.Errorf("deployment %s: %w", id, classify(err))
		}
		dep := &deployment{id: id, status: resp.Deployment.Status, stopped: resp.Deployment.DeploymentStopped}
		switch {
		case dep.running():
			return nil
		case !dep.pending():
			return fmt.Errorf("%w: deployment %s is %s", ErrDeployFailed, id, dep.status)
		case !d.o.Clock.Now().Before(deadline):
			return fmt.Errorf("deployment %s still %s after %s", id, dep.status, d.o.DeployTimeout)
		}
	}
}

// redactedError is an error whose message has secrets blotted out; errors.Is
// and errors.As still see the error underneath.
type redactedError struct {
	err     error
	secrets []string
}

func (e *redactedError) Error() string {
	msg := e.err.Error()
	for _, s := range e.secrets {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	return msg
}

func (e *redactedError) Unwrap() error { return e.err }

// redact hides a database URL, and its password, in err's message.
func redact(err error, dbURL string) error {
	secrets := []string{dbURL}
	if u, perr := url.Parse(dbURL); perr == nil {
		if pw, ok := u.User.Password(); ok && len(pw) >= 4 {
			secrets = append(secrets, pw)
		}
	}
	// JSON quoting turns & into \u0026 and the like: hide the quoted form too.
	if q, jerr := json.Marshal(dbURL); jerr == nil {
		secrets = append(secrets, strings.Trim(string(q), `"`))
	}
	return &redactedError{err: err, secrets: secrets}
}
