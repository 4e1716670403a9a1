package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
)

// adminUsage documents the operator commands that call the ingress's admin
// endpoints (/v1/admin/..., behind ADMIN_TOKEN).
const adminUsage = `operator commands (the ingress's /v1/admin API; token from --token or CLAW_ADMIN_TOKEN):
  customer <customer_id>            show a customer: plan, state, instance, resources, timers, sagas
  sagas [--state failed] [--kind k] [--customer id] [--limit n]
                                    list sagas, newest first
  saga <saga_id>                    show one saga's steps with timings and errors
  retry <saga_id>                   retry a saga that ended compensated or failed
  deprovision <customer_id> --yes [--reason text]
                                    force-deprovision: delete compute, database and archive now
flags of every command: --url (CLAW_INGRESS_URL, default http://127.0.0.1:8080), --token, --json (raw JSON)
`

// runAdmin runs one operator command against the ingress's admin API.
func runAdmin(ctx context.Context, cmd string, args []string) error {
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.Usage = func() { fmt.Fprint(fs.Output(), adminUsage) }
	base := fs.String("url", envOr("CLAW_INGRESS_URL", "http://127.0.0.1:8080"), "ingress URL")
	token := fs.String("token", envOr("CLAW_ADMIN_TOKEN", platform.DevAdminToken), "admin token (the ingress's ADMIN_TOKEN); default $CLAW_ADMIN_TOKEN, else the dev mode's")
	raw := fs.Bool("json", false, "print the raw JSON answer")
	state := fs.String("state", "", "sagas: status (running, completed, compensating, compensated, failed)")
	kind := fs.String("kind", "", "sagas: kind (signup, plan_change, suspend, resume, cancel, archive, delete, deprovision...)")
	customer := fs.String("customer", "", "sagas: only this customer's")
	limit := fs.Int("limit", 0, "sagas: at most this many (1-500; default 50)")
	yes := fs.Bool("yes", false, "deprovision: confirm")
	reason := fs.String("reason", "", "deprovision: why (recorded)")
	pos, err := parseInterleaved(fs, args)
	if err != nil {
		return err
	}
	c := adminClient{base: strings.TrimRight(*base, "/"), token: *token, http: &http.Client{Timeout: 30 * time.Second}}
	one := func(what string) (string, error) {
		if len(pos) != 1 || pos[0] == "" {
			return "", fmt.Errorf("%s: want exactly one %s", cmd, what)
		}
		return url.PathEscape(pos[0]), nil
	}
	var (
		method = http.MethodGet
		path   string
		show   func(body []byte) error
	)
	switch cmd {
	case "customer":
		id, err := one("customer id (cus_...)")
		if err != nil {
			return err
		}
		path, show = "/v1/admin/customers/"+id, showCustomer
	case "sagas":
		if len(pos) != 0 {
			return fmt.Errorf("sagas: unexpected argument %q (filters are flags: --state, --kind, --customer, --limit)", pos[0])
		}
		q := url.Values{}
		for k, v := range map[string]string{"status": *state, "kind": *kind, "customer_id": *customer} {
			if v != "" {
				q.Set(k, v)
			}
		}
		if *limit != 0 {
			q.Set("limit", fmt.Sprint(*limit))
		}
		path, show = "/v1/admin/sagas?"+q.Encode(), showSagas
	case "saga":
		id, err := one("saga id")
		if err != nil {
			return err
		}
		path, show = "/v1/admin/sagas/"+id, showSaga
	case "retry":
		id, err := one("saga id")
		if err != nil {
			return err
		}
		method, path, show = http.MethodPost, "/v1/admin/sagas/"+id+"/retry", showStarted("retry")
	case "deprovision":
		id, err := one("customer id (cus_...)")
		if err != nil {
			return err
		}
		if !*yes {
			return fmt.Errorf("deprovision deletes %s's compute, database and archive for good: add --yes to confirm", pos[0])
		}
		q := url.Values{}
		if *reason != "" {
			q.Set("reason", *reason)
		}
		method, path, show = http.MethodPost, "/v1/admin/customers/"+id+"/deprovision?"+q.Encode(), showStarted("deprovision")
	default:
		return fmt.Errorf("unknown admin command %q", cmd)
	}
	body, err := c.do(ctx, method, path)
	if err != nil {
		return err
	}
	if *raw {
		_, err := os.Stdout.Write(body)
		return err
	}
	return show(body)
}

// parseInterleaved parses flags placed before, between or after the
// positional arguments (clawctl saga <id> --json) and returns the latter.
func parseInterleaved(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		if fs.NArg() == 0 {
			return pos, nil
		}
		pos = append(pos, fs.Arg(0))
		args = fs.Args()[1:]
	}
}

// adminClient calls the ingress's admin endpoints.
type adminClient struct {
	base, token string
	http        *http.Client
}

// do sends one request and returns the body of a 200, or an error carrying
// the ingress's message.
func (c adminClient) do(ctx context.Context, method, path string) ([]byte, error) {
	if c.token == "" {
		return nil, errors.New("no admin token: pass --token or set CLAW_ADMIN_TOKEN (the ingress's ADMIN_TOKEN)")
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	res, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("ingress at %s: %w", c.base, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("read answer: %w", err)
	}
	if res.StatusCode != http.StatusOK {
		var e struct {
			Error string `json:"error"`
		}
		if json.Unmarshal(body, &e) == nil && e.Error != "" {
			return nil, fmt.Errorf("%s (HTTP %d)", e.Error, res.StatusCode)
		}
		return nil, fmt.Errorf("HTTP %d from %s", res.StatusCode, c.base)
	}
	return body, nil
}

// table starts an aligned table on stdout.
func table() *tabwriter.Writer { return tabwriter.NewWriter(os.Stdout, 0, 4, 2, ' ', 0) }
