package apikey

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"strings"
	"testing"
)

func TestGenerate(t *testing.T) {
	seen := make(map[string]bool)
	for range 100 {
		k, err := Generate()
		if err != nil {
			t.Fatalf("Generate: %v", err)
		}
		if !strings.HasPrefix(k, KeyPrefix) {
			t.Fatalf("key %q lacks prefix %q", Prefix(k), KeyPrefix)
		}
		if len(k) != 5+43 {
			t.Fatalf("len(key) = %d, want 48", len(k))
		}
		if !Valid(k) {
			t.Fatalf("generated key %q is not Valid", Prefix(k))
		}
		if seen[k] {
			t.Fatal("Generate returned a duplicate key")
		}
		seen[k] = true
		got, err := Parse("Bearer " + k)
		if err != nil || got != k {
			t.Fatalf("Parse(Bearer key) = %q, %v; want the key", Prefix(got), err)
		}
	}
}

func TestHash(t *testing.T) {
	want := sha256.Sum256([]byte("claw_abc"))
	if got := Hash("claw_abc"); !bytes.Equal(got, want[:]) {
		t.Errorf("Hash = %x, want %x", got, want)
	}
	if bytes.Equal(Hash("claw_a"), Hash("claw_b")) {
		t.Error("different keys hash equal")
	}
}

func TestPrefix(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"claw_", "claw_"},
		{"claw_abcdefg", "claw_abcdefg"},
		{"claw_abcdefghijk", "claw_abcdefg"},
	} {
		if got := Prefix(tc.in); got != tc.want {
			t.Errorf("Prefix(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestParse(t *testing.T) {
	valid := "claw_" + strings.Repeat("A", 43)
	for _, tc := range []struct {
		name, header string
		want         string
		err          error
	}{
		{"valid", "Bearer " + valid, valid, nil},
		{"lower-case scheme", "bearer " + valid, valid, nil},
		{"surrounding spaces", "  Bearer   " + valid + " ", valid, nil},
		{"empty", "", "", ErrMissing},
		{"blank", "   ", "", ErrMissing},
		{"scheme only", "Bearer", "", ErrMissing},
		{"scheme and space", "Bearer ", "", ErrMissing},
		{"basic", "Basic dXNlcjpwYXNz", "", ErrMalformed},
		{"no scheme", valid, "", ErrMalformed},
		{"wrong prefix", "Bearer sk_" + strings.Repeat("A", 43), "", ErrMalformed},
		{"too short", "Bearer claw_abc", "", ErrMalformed},
		{"too long", "Bearer " + valid + "A", "", ErrMalformed},
		{"bad alphabet", "Bearer claw_" + strings.Repeat("+", 43), "", ErrMalformed},
		{"padding", "Bearer claw_" + strings.Repeat("A", 42) + "=", "", ErrMalformed},
		{"two tokens", "Bearer " + valid + " " + valid, "", ErrMalformed},
		// 43 chars encode 258 bits; the last char must leave the low 2 bits zero.
		{"non-canonical tail", "Bearer claw_" + strings.Repeat("A", 42) + "B", "", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Parse(tc.header)
			if !errors.Is(err, tc.err) || got != tc.want {
				t.Errorf("Parse(%q) = %q, %v; want %q, %v", tc.header, got, err, tc.want, tc.err)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	k, err := Generate()
	if err != nil {
		f.Fatal(err)
	}
	for _, s := range []string{"", "Bearer", "Bearer " + k, "bearer " + k, "Basic x", "Bearer claw_", k} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, header string) {
		got, err := Parse(header)
		switch {
		case err == nil:
			if !Valid(got) {
				t.Fatalf("Parse(%q) accepted invalid key %q", header, got)
			}
			if !strings.Contains(header, got) {
				t.Fatalf("Parse(%q) returned %q, not part of the header", header, got)
			}
		case errors.Is(err, ErrMissing), errors.Is(err, ErrMalformed):
			if got != "" {
				t.Fatalf("Parse(%q) returned %q with error %v", header, got, err)
			}
			// The error is exactly a sentinel: nothing of the header is in it.
			if err != ErrMissing && err != ErrMalformed {
				t.Fatalf("Parse(%q): error %v is not a bare sentinel", header, err)
			}
		default:
			t.Fatalf("Parse(%q): unexpected error %v", header, err)
		}
	})
}
