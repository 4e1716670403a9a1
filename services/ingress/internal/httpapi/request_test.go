package httpapi

import (
	"strings"
	"testing"
	"unicode/utf8"

	"clawdbot.cloud/pkg/plans"
)

func TestParseCheckout(t *testing.T) {
	tests := []struct {
		body    string
		reasons []string // substrings, one per expected reason
	}{
		{`{"plan":"pro","email":"ada@example.com"}`, nil},
		{`{"plan":"team","email":"a.b+c@example.co.uk","timezone":"Europe/Paris"}`, nil},
		{`{"plan":"gold","email":"ada"}`, []string{"plan must be one of starter, pro, team", "email"}},
		{`{"plan":"Pro","email":"Ada <ada@example.com>"}`, []string{"plan", "email"}},
		{`{"plan":"pro","email":"ada@example.com","timezone":"../../etc/passwd"}`, []string{"timezone"}},
		{`{"plan":"pro","email":"ada@example.com","coupon":"FREE"}`, []string{`unknown field "coupon"`}},
		{`{"plan":"pro"} {}`, []string{"after the JSON object"}},
		{`[]`, []string{"expected JSON object"}},
		{``, []string{"expected JSON object"}},
	}
	for _, tc := range tests {
		t.Run(tc.body, func(t *testing.T) {
			req, reasons := parseCheckout([]byte(tc.body))
			if len(reasons) != len(tc.reasons) {
				t.Fatalf("reasons %q, want %d like %q", reasons, len(tc.reasons), tc.reasons)
			}
			for i, want := range tc.reasons {
				if !strings.Contains(reasons[i], want) {
					t.Errorf("reason %q lacks %q", reasons[i], want)
				}
			}
			if tc.reasons == nil && (req.Plan.ID == "" || req.Email == "") {
				t.Errorf("request %+v", req)
			}
		})
	}
}

// FuzzParseCheckout: request bodies from the internet never panic the
// parser, and what it accepts is a catalog plan, a bare bounded address
// and a loadable zone.
func FuzzParseCheckout(f *testing.F) {
	for _, s := range []string{`{"plan":"pro","email":"ada@example.com"}`, `{"plan":"team","email":"x@y","timezone":"UTC"}`,
		`{"plan":"pro","email":"a@b.c","reveal_hash":"` + strings.Repeat("ab", 32) + `"}`, `{"reveal_hash":"ZZ"}`,
		`{"email":"\u0000@x"}`, `{"plan":null}`, `{"timezone":"Local"}`, `nul`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		req, reasons := parseCheckout(body)
		if reasons != nil {
			if req.Plan.ID != "" {
				t.Fatalf("refused with a plan set")
			}
			return
		}
		if _, err := plans.Lookup(req.Plan.ID); err != nil {
			t.Fatalf("accepted plan %q", req.Plan.ID)
		}
		if !validEmail(req.Email) || len(req.Email) > 254 || !utf8.ValidString(req.Email) || strings.ContainsAny(req.Email, "\r\n") {
			t.Fatalf("accepted email %q", req.Email)
		}
		if req.Timezone != "" && !validTimezone(req.Timezone) {
			t.Fatalf("accepted timezone %q", req.Timezone)
		}
		if req.RevealHash != "" && (len(req.RevealHash) != 64 || strings.Trim(req.RevealHash, "0123456789abcdef") != "") {
			t.Fatalf("accepted reveal_hash %q", req.RevealHash)
		}
	})
}

// FuzzParsePortal: only a well-formed customer id gets through.
func FuzzParsePortal(f *testing.F) {
	for _, s := range []string{`{"customer_id":"cus_123"}`, `{"customer_id":"cus_"}`, `{"customer_id":7}`, `{}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		id, reasons := parsePortal(body)
		if reasons == nil && (!strings.HasPrefix(id, "cus_") || len(id) > 255 || strings.ContainsAny(id, "/?#&% \n")) {
			t.Fatalf("accepted customer id %q", id)
		}
	})
}

// FuzzParseReveal: only a nonce of 16 to 128 base64url characters gets
// through, and nothing panics.
func FuzzParseReveal(f *testing.F) {
	for _, s := range []string{`{"nonce":"0123456789abcdef"}`, `{"nonce":"` + strings.Repeat("A", 129) + `"}`,
		`{"nonce":"a+b/c=d"}`, `{"nonce":null}`, `{"nonce":"0123456789abcdef","x":1}`, `[]`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		nonce, reasons := parseReveal(body)
		if reasons != nil {
			if nonce != "" {
				t.Fatalf("refused with a nonce set")
			}
			return
		}
		const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
		if len(nonce) < 16 || len(nonce) > 128 || strings.Trim(nonce, alphabet) != "" {
			t.Fatalf("accepted nonce %q", nonce)
		}
	})
}
