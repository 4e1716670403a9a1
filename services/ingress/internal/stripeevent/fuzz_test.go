package stripeevent

import (
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
)

// FuzzCheckoutSession feeds arbitrary data.object bodies through the parser
// and the signup mapping: they must never panic, and whatever they accept
// must be safe to publish.
func FuzzCheckoutSession(f *testing.F) {
	f.Add(event(f, "checkout.session.completed", session(nil)))
	for _, seed := range []string{
		`{}`, `null`, `[]`, `"x"`, `{"object":"checkout.session","id":"cs_1"}`,
		`{"object":"checkout.session","id":"cs_1","mode":"subscription","payment_status":"paid","customer":{"id":"cus_1"},"subscription":"sub_1","metadata":{"plan":"starter"}}`,
		`{"object":"checkout.session","id":"cs_1","customer":{"id":7}}`,
		`{"object":"checkout.session","id":"cs_1","metadata":{"plan":null}}`,
		`{"object":"checkout.session","id":"cs_1","customer_details":"x"}`,
	} {
		f.Add([]byte(seed))
	}
	evt := Verified{}
	evt.ID = "evt_fuzz"
	f.Fuzz(func(t *testing.T, raw []byte) {
		cs, err := ParseCheckoutSession(raw)
		if err != nil {
			if !errors.Is(err, ErrPayload) {
				t.Fatalf("parse error does not wrap ErrPayload: %v", err)
			}
			return
		}
		if !ValidCheckoutSessionID(cs.ID) {
			t.Fatalf("accepted session id %q", cs.ID)
		}
		msg, err := Signup(evt, cs)
		if err != nil {
			if !errors.Is(err, ErrPayload) && !errors.Is(err, ErrNotSignup) && !errors.Is(err, plans.ErrUnknownPlan) {
				t.Fatalf("unclassified signup error: %v", err)
			}
			return
		}
		if !ValidCustomerID(msg.CustomerId) || !ValidSubscriptionID(msg.SubscriptionId) {
			t.Fatalf("accepted ids %q %q", msg.CustomerId, msg.SubscriptionId)
		}
		if _, err := plans.Lookup(msg.Plan); err != nil {
			t.Fatalf("accepted plan %q", msg.Plan)
		}
		if msg.SagaId != names.SignupSagaID(cs.ID) {
			t.Fatalf("saga id %q", msg.SagaId)
		}
		for _, s := range []string{msg.Email, msg.Name, msg.Timezone} {
			if len(s) > maxFieldLen || !utf8.ValidString(s) {
				t.Fatalf("field %q unbounded or not UTF-8", s)
			}
		}
	})
}

// FuzzVerify signs arbitrary bodies with the right secret: the signature
// must always be accepted (errors can only be about the payload), and the
// same body with one byte changed must always be refused as a signature error.
func FuzzVerify(f *testing.F) {
	f.Add(event(f, "checkout.session.completed", session(nil)))
	f.Add([]byte(`{"id":"evt_1","type":"invoice.paid"}`))
	f.Add([]byte(`{"id":"evt_1","type":"x","data":null}`))
	f.Add([]byte(`not json`))
	v := NewVerifier(secret)
	now := time.Now()
	f.Fuzz(func(t *testing.T, payload []byte) {
		header := signed(t, payload, now, secret)
		evt, err := v.Verify(payload, header)
		if err != nil {
			if errors.Is(err, ErrSignature) || !errors.Is(err, ErrPayload) {
				t.Fatalf("correctly signed payload refused as %v", err)
			}
		} else if !ValidEventID(evt.ID) || evt.Type == "" || strings.ContainsAny(string(TypeLabel(evt.Type)), " \n") {
			t.Fatalf("accepted event %q of type %q", evt.ID, evt.Type)
		}
		tampered := append([]byte{'x'}, payload...)
		if _, err := v.Verify(tampered, header); !errors.Is(err, ErrSignature) {
			t.Fatalf("tampered payload: err = %v", err)
		}
	})
}
