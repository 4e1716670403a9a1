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

// TestResourceNamesHideTheCustomer: names that leave the platform (database,
// role, service, archive) carry no part of the customer id, are stable, and
// differ per customer.
func TestResourceNamesHideTheCustomer(t *testing.T) {
	for _, id := range []string{"cus_QxYz12AbCdEf34", "cus_qxyz12abcdef34", "cus_R5tUvW0pq9LmNo"} {
		body := strings.ToLower(strings.TrimPrefix(id, "cus_"))
		for _, name := range []string{Slug(id), Database(id), Service(id), ArchiveRef(id)} {
			lower := strings.ToLower(name)
			if strings.Contains(lower, "cus") || strings.Contains(lower, body) {
				t.Errorf("%q reveals customer %q", name, id)
			}
			for i := 0; i+6 <= len(body); i++ {
				if strings.Contains(lower, body[i:i+6]) {
					t.Errorf("%q contains %q of customer %q", name, body[i:i+6], id)
				}
			}
		}
	}
	if Slug("cus_QxYz12AbCdEf34") == Slug("cus_qxyz12abcdef34") {
		t.Error("ids differing only in case share a name")
	}
	// The names are the addresses of existing databases and services: a
	// change to the derivation would orphan every customer made before it.
	const id = "cus_R5tUvW0pq9LmNo"
	for _, c := range []struct{ got, want string }{
		{Database(id), "claw_84138958239115512698b4f4e99a0a93"},
		{Service(id), "claw-84138958239115512698b4f4e99a0a93"},
		{ArchiveRef(id), "archive/84138958239115512698b4f4e99a0a93"},
	} {
		if got, want := c.got, c.want; got != want {
			t.Errorf("name = %q, want %q (names must never change for an existing customer)", got, want)
		}
	}
	if got := Database(id); len(got) > 63 {
		t.Errorf("Database = %q: longer than a Postgres identifier", got)
	}
}
