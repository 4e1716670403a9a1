package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
)

// adminFlags are the flags of every operator command.
type adminFlags struct {
	url, token string
	json       bool
}

func (f *adminFlags) add(cmd *cobra.Command) {
	urlFlag(cmd.Flags(), &f.url)
	cmd.Flags().StringVar(&f.token, "token", envOr("CLAW_ADMIN_TOKEN", platform.DevAdminToken),
		"admin token, the ingress's ADMIN_TOKEN (env CLAW_ADMIN_TOKEN, else the dev mode's)")
	jsonFlag(cmd.Flags(), &f.json)
}

// call sends one request to the admin API and prints the answer: raw with
// --json, else through show.
func (f *adminFlags) call(cmd *cobra.Command, method, path string, show func(io.Writer, []byte) error) error {
	c := adminClient{base: strings.TrimRight(f.url, "/"), token: f.token, http: &http.Client{Timeout: 30 * time.Second}}
	body, err := c.do(cmd.Context(), method, path)
	if err != nil {
		return err
	}
	if f.json {
		_, err := cmd.OutOrStdout().Write(body)
		return err
	}
	return show(cmd.OutOrStdout(), body)
}

// newAdminCmds are the operator commands that call the ingress's admin
// endpoints (/v1/admin/..., behind ADMIN_TOKEN).
func newAdminCmds() []*cobra.Command {
	return []*cobra.Command{newCustomerCmd(), newSagasCmd(), newSagaCmd(), newRetryCmd(), newDeprovisionCmd()}
}

func newCustomerCmd() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "customer CUSTOMER_ID",
		Short: "Show a customer: plan, state, instance, resources, timers, sagas",
		Args:  positional(exactlyOne("customer id (cus_...)")),
		RunE: func(cmd *cobra.Command, a []string) error {
			return f.call(cmd, http.MethodGet, "/v1/admin/customers/"+url.PathEscape(a[0]), showCustomer)
		},
	}
	f.add(cmd)
	return cmd
}

func newSagasCmd() *cobra.Command {
	var (
		f                     adminFlags
		state, kind, customer string
		limit                 int
	)
	cmd := &cobra.Command{
		Use:   "sagas [--state S] [--kind K] [--customer ID] [--limit N]",
		Short: "List sagas, newest first",
		Args: positional(func(_ *cobra.Command, a []string) error {
			if len(a) != 0 {
				return fmt.Errorf("unexpected argument %q (filters are flags: --state, --kind, --customer, --limit)", a[0])
			}
			return nil
		}),
		RunE: func(cmd *cobra.Command, _ []string) error {
			q := url.Values{}
			for k, v := range map[string]string{"status": state, "kind": kind, "customer_id": customer} {
				if v != "" {
					q.Set(k, v)
				}
			}
			if limit != 0 {
				q.Set("limit", fmt.Sprint(limit))
			}
			return f.call(cmd, http.MethodGet, "/v1/admin/sagas?"+q.Encode(), showSagas)
		},
	}
	f.add(cmd)
	cmd.Flags().StringVar(&state, "state", "", "status: running, completed, compensating, compensated, failed")
	cmd.Flags().StringVar(&kind, "kind", "", "kind: signup, plan_change, suspend, resume, cancel, archive, delete, deprovision...")
	cmd.Flags().StringVar(&customer, "customer", "", "only this customer's")
	cmd.Flags().IntVar(&limit, "limit", 0, "at most this many (1-500; default 50)")
	return cmd
}

func newSagaCmd() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "saga SAGA_ID",
		Short: "Show one saga's steps with timings and errors",
		Args:  positional(exactlyOne("saga id")),
		RunE: func(cmd *cobra.Command, a []string) error {
			return f.call(cmd, http.MethodGet, "/v1/admin/sagas/"+url.PathEscape(a[0]), showSaga)
		},
	}
	f.add(cmd)
	return cmd
}

func newRetryCmd() *cobra.Command {
	var f adminFlags
	cmd := &cobra.Command{
		Use:   "retry SAGA_ID",
		Short: "Retry a saga that ended compensated or failed",
		Args:  positional(exactlyOne("saga id")),
		RunE: func(cmd *cobra.Command, a []string) error {
			return f.call(cmd, http.MethodPost, "/v1/admin/sagas/"+url.PathEscape(a[0])+"/retry", showStarted("retry"))
		},
	}
	f.add(cmd)
	return cmd
}

func newDeprovisionCmd() *cobra.Command {
	var (
		f      adminFlags
		yes    bool
		reason string
	)
	cmd := &cobra.Command{
		Use:   "deprovision CUSTOMER_ID --yes [--reason TEXT]",
		Short: "Force-deprovision: delete compute, database and archive now",
		Args:  positional(exactlyOne("customer id (cus_...)")),
		RunE: func(cmd *cobra.Command, a []string) error {
			if !yes {
				return fmt.Errorf("deprovision deletes %s's compute, database and archive for good: add --yes to confirm", a[0])
			}
			q := url.Values{}
			if reason != "" {
				q.Set("reason", reason)
			}
			return f.call(cmd, http.MethodPost, "/v1/admin/customers/"+url.PathEscape(a[0])+"/deprovision?"+q.Encode(), showStarted("deprovision"))
		},
	}
	f.add(cmd)
	cmd.Flags().BoolVar(&yes, "yes", false, "confirm")
	cmd.Flags().StringVar(&reason, "reason", "", "why (recorded)")
	return cmd
}

// exactlyOne wants one non-empty positional argument, named what.
func exactlyOne(what string) cobra.PositionalArgs {
	return func(_ *cobra.Command, a []string) error {
		if len(a) != 1 || a[0] == "" {
			return fmt.Errorf("want exactly one %s", what)
		}
		return nil
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

// table starts an aligned table on w.
func table(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 4, 2, ' ', 0) }
