package seal_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"clawdbot.cloud/pkg/seal"
)

func TestSealOpen(t *testing.T) {
	secret := strings.Repeat("s", seal.MinSecretLen)
	a, err := seal.New(secret, "use a")
	if err != nil {
		t.Fatal(err)
	}
	sealed := a.Seal("column", "bot-token")
	if bytes.Contains(sealed, []byte("bot-token")) {
		t.Fatal("the plaintext is in the sealed value")
	}
	if again := a.Seal("column", "bot-token"); bytes.Equal(again, sealed) {
		t.Error("two seals of one value are equal: the nonce is not random")
	}
	if got, err := a.Open("column", sealed); err != nil || got != "bot-token" {
		t.Fatalf("Open = %q, %v", got, err)
	}
	b, _ := seal.New(secret, "use b")
	other, _ := seal.New(strings.Repeat("t", seal.MinSecretLen), "use a")
	tampered := bytes.Clone(sealed)
	tampered[len(tampered)-1] ^= 1
	for name, open := range map[string]func() (string, error){
		"another column":       func() (string, error) { return a.Open("other column", sealed) },
		"another use":          func() (string, error) { return b.Open("column", sealed) },
		"another secret":       func() (string, error) { return other.Open("column", sealed) },
		"tampered":             func() (string, error) { return a.Open("column", tampered) },
		"shorter than a nonce": func() (string, error) { return a.Open("column", sealed[:4]) },
	} {
		if got, err := open(); !errors.Is(err, seal.ErrOpen) || got != "" {
			t.Errorf("%s: Open = %q, %v, want ErrOpen", name, got, err)
		}
	}
	if _, err := seal.New("short", "use a"); err == nil {
		t.Error("a short secret derived a key")
	}
}
