package names

import (
	"strings"
	"testing"
)

func TestSignupSagaIDHidesTheSession(t *testing.T) {
	const cs = "cs_test_a1B2c3D4e5F6g7H8i9J0"
	id := SignupSagaID(cs)
	if !strings.HasPrefix(id, SignupSagaPrefix) || len(id) != len(SignupSagaPrefix)+32 {
		t.Fatalf("SignupSagaID = %q, want %s + 32 hex digits", id, SignupSagaPrefix)
	}
	if strings.Contains(id, strings.TrimPrefix(cs, "cs_test_")) {
		t.Fatalf("SignupSagaID %q contains the session id", id)
	}
	if SignupSagaID(cs) != id || SignupSagaID(cs+"x") == id {
		t.Fatal("SignupSagaID is not a deterministic function of the session id")
	}
	ref := CheckoutRef(cs)
	if len(ref) != 12 || strings.Contains(ref, "cs_") || CheckoutRef(cs) != ref {
		t.Fatalf("CheckoutRef = %q", ref)
	}
}
