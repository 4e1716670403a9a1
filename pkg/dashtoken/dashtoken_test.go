package dashtoken

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestVerify(t *testing.T) {
	now := time.Unix(1_800_000_000, 0)
	good := Mint("instance-secret-A", now.Add(5*time.Minute))
	tamper := []byte(good)
	tamper[len(tamper)-2] ^= 1
	for _, tc := range []struct {
		name, secret, token string
		at                  time.Time
		want                error
	}{
		{"valid", "instance-secret-A", good, now, nil},
		{"another instance's secret", "instance-secret-B", good, now, ErrInvalid},
		{"empty secret never verifies", "", good, now, ErrInvalid},
		{"expired", "instance-secret-A", good, now.Add(5 * time.Minute), ErrExpired},
		{"too long a lifetime", "instance-secret-A", Mint("instance-secret-A", now.Add(MaxLifetime+time.Second)), now, ErrExpired},
		{"tampered signature", "instance-secret-A", string(tamper), now, ErrInvalid},
		{"moved expiry", "instance-secret-A", strings.Replace(good, "_18", "_19", 1), now, ErrInvalid},
		{"api key", "instance-secret-A", "claw_abc", now, ErrMalformed},
		{"no signature", "instance-secret-A", "clawdash_1800000100", now, ErrMalformed},
		{"bad number", "instance-secret-A", "clawdash_x_" + strings.Repeat("A", 43), now, ErrMalformed},
		{"short signature", "instance-secret-A", "clawdash_1800000100_AAAA", now, ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(tc.secret, tc.token, tc.at)
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Fatalf("Verify = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestFromHeader(t *testing.T) {
	tok := Mint("s", time.Now().Add(time.Minute))
	if got := FromHeader("Bearer " + tok); got != tok {
		t.Fatalf("FromHeader = %q", got)
	}
	if got := FromHeader("bearer  " + tok + " "); got != tok {
		t.Fatalf("FromHeader (case, spaces) = %q", got)
	}
	for _, h := range []string{"", "Bearer claw_x", "Basic " + tok, tok} {
		if Is(h) {
			t.Fatalf("Is(%q) = true", h)
		}
	}
}

func FuzzVerify(f *testing.F) {
	f.Add(Mint("s", time.Unix(100, 0)))
	f.Add("clawdash_1_")
	f.Fuzz(func(t *testing.T, token string) {
		_ = Verify("s", token, time.Unix(50, 0))
	})
}
