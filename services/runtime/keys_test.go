package runtime_test

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"clawdbot.cloud/pkg/dashtoken"
	"clawdbot.cloud/pkg/plans"
	"clawdbot.cloud/services/runtime"
)

type keyJSON struct {
	ID         int64      `json:"id"`
	Name       string     `json:"name"`
	Prefix     string     `json:"prefix"`
	Key        string     `json:"key"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	RevokedAt  *time.Time `json:"revoked_at"`
}

// TestKeyManagement: a customer creates a key (shown once), sees it listed
// with its last use, revokes it, and the very next request with it is
// refused.
func TestKeyManagement(t *testing.T) {
	in := startInstance(t, "cus_KEYS", plans.Pro)
	first := in.addKey(t)

	var created keyJSON
	in.call(t, http.MethodPost, "/api/keys", first, map[string]string{"name": "laptop"}, http.StatusCreated, &created)
	if !strings.HasPrefix(created.Key, "claw_") || created.Prefix != created.Key[:12] || created.Name != "laptop" {
		t.Fatalf("created = %+v", created)
	}
	in.call(t, http.MethodGet, "/status", created.Key, nil, http.StatusOK, nil)

	var list struct{ Keys []keyJSON }
	in.call(t, http.MethodGet, "/api/keys", first, nil, http.StatusOK, &list)
	if len(list.Keys) != 2 {
		t.Fatalf("keys = %+v", list.Keys)
	}
	for _, k := range list.Keys {
		if k.Key != "" {
			t.Fatal("a listed key carries its plaintext")
		}
		if k.ID == created.ID && k.LastUsedAt == nil {
			t.Error("the used key has no last_used_at")
		}
	}

	in.call(t, http.MethodDelete, "/api/keys/"+strconv.FormatInt(created.ID, 10), first, nil, http.StatusNoContent, nil)
	in.call(t, http.MethodGet, "/status", created.Key, nil, http.StatusUnauthorized, nil)
	in.call(t, http.MethodGet, "/status", first, nil, http.StatusOK, nil)

	in.call(t, http.MethodDelete, "/api/keys/999999", first, nil, http.StatusNotFound, nil)
	in.call(t, http.MethodDelete, "/api/keys/abc", first, nil, http.StatusBadRequest, nil)
	in.call(t, http.MethodPost, "/api/keys", first, map[string]string{"name": strings.Repeat("x", 65)}, http.StatusBadRequest, nil)
	in.call(t, http.MethodPost, "/api/keys", first, map[string]string{"name": "tab\there"}, http.StatusBadRequest, nil)
	if strings.Contains(in.logs.String(), created.Key) {
		t.Error("logs contain a created key")
	}
}

// TestDashboardToken: a token minted with the instance token opens the API
// (but is not the instance token); an expired, foreign or forged one does
// not.
func TestDashboardToken(t *testing.T) {
	in := startInstance(t, "cus_DASH", plans.Starter, withConfig(func(c *runtime.Config) { c.InstanceToken = instanceToken }))
	now := time.Now()
	good := dashtoken.Mint(instanceToken, now.Add(time.Minute))
	for _, path := range []string{"/status", "/api/memory", "/api/keys", "/api/usage"} {
		in.call(t, http.MethodGet, path, good, nil, http.StatusOK, nil)
	}
	for name, tok := range map[string]string{
		"expired":          dashtoken.Mint(instanceToken, now.Add(-time.Second)),
		"another instance": dashtoken.Mint(instanceToken+"x", now.Add(time.Minute)),
		"too long lived":   dashtoken.Mint(instanceToken, now.Add(time.Hour)),
		"malformed":        "clawdash_123",
	} {
		resp, _ := in.do(t, http.MethodGet, "/api/memory", tok, nil)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s token: %d, want 401", name, resp.StatusCode)
		}
	}
	// Without an instance token no dashboard token verifies.
	plain := startInstance(t, "cus_NODASH", plans.Starter)
	resp, _ := plain.do(t, http.MethodGet, "/api/memory", dashtoken.Mint("", now.Add(time.Minute)), nil)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("dashboard token on an instance without instance token: %d", resp.StatusCode)
	}
	if strings.Contains(in.logs.String(), good) {
		t.Error("logs contain a dashboard token")
	}
}

func TestUsageByDay(t *testing.T) {
	in := startInstance(t, "cus_USAGE", plans.Starter)
	key := in.addKey(t)
	today := time.Now().UTC().Format(time.DateOnly)
	if _, err := in.pool.Exec(t.Context(), `INSERT INTO usage_tracking (day, messages, input_tokens, output_tokens) VALUES ($1::date, 7, 70, 700)`, today); err != nil {
		t.Fatal(err)
	}
	var u struct {
		Days []struct {
			Day      string
			Messages int64
		}
		Total struct{ Messages int64 }
		Quota struct {
			MonthlyMessages int64 `json:"monthly_messages"`
		}
	}
	in.call(t, http.MethodGet, "/api/usage", key, nil, http.StatusOK, &u)
	if len(u.Days) != time.Now().UTC().Day() || u.Days[len(u.Days)-1].Day != today || u.Days[len(u.Days)-1].Messages != 7 {
		t.Fatalf("days = %+v", u.Days)
	}
	if u.Total.Messages != 7 || u.Quota.MonthlyMessages != 5000 {
		t.Fatalf("usage = %+v", u)
	}
}
