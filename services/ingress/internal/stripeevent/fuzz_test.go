package stripeevent

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stripe/stripe-go/v76"
	"google.golang.org/protobuf/encoding/protojson"

	"clawdbot.cloud/pkg/names"
	"clawdbot.cloud/pkg/plans"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
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
		`{"object":"checkout.session","id":"cs_1","mode":"subscription","payment_status":"paid","customer":"cus_1","subscription":{"id":"sub_1","items":{"data":[{"price":{"id":"price_x","lookup_key":"clawdbot_team"}}]}},"metadata":{"plan":"team"}}`,
		`{"object":"checkout.session","id":"cs_1","mode":"subscription","payment_status":"paid","customer":"cus_1","subscription":"sub_1","line_items":{"data":[{"price":"price_dev_starter"}]}}`,
	} {
		f.Add([]byte(seed))
	}
	evt := Verified{}
	evt.ID = "evt_fuzz"
	prices := devPrices(f)
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
		msg, err := Signup(evt, cs, prices)
		if err != nil {
			if !errors.Is(err, ErrPayload) && !errors.Is(err, ErrNotSignup) && !errors.Is(err, plans.ErrUnknownPlan) && !errors.Is(err, ErrPlanMismatch) {
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
		if m, ok := cs.Metadata[MetadataPlan]; ok && m != msg.Plan {
			t.Fatalf("accepted metadata.plan %q for a price of plan %q", m, msg.Plan)
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

// FuzzLifecycle feeds arbitrary data.object and previous_attributes bodies,
// under every lifecycle event type, through ParseLifecycle: it must never
// panic, classify every refusal, and only accept what is safe to publish.
func FuzzLifecycle(f *testing.F) {
	f.Add(uint8(0), []byte(`{"id":"sub_1","object":"subscription","customer":"cus_1","items":{"data":[{"price":{"id":"price_T"}}]}}`),
		[]byte(`{"items":{"data":[{"price":"price_P"}]}}`))
	f.Add(uint8(1), []byte(`{"id":"sub_1","object":"subscription","customer":{"id":"cus_1"},"trial_end":1700000000}`), []byte(`{}`))
	f.Add(uint8(3), []byte(`{"id":"in_1","object":"invoice","customer":"cus_1","subscription":"sub_1","attempt_count":2,"next_payment_attempt":-5}`), []byte(`null`))
	f.Add(uint8(4), []byte(`{"id":"in_1","object":"invoice","customer":"cus_1","parent":{"subscription_details":{"subscription":{"id":"sub_2"}}}}`), []byte(`[]`))
	f.Add(uint8(0), []byte(`{"id":"sub_1","object":"subscription","customer":"cus_1","plan":{"id":7}}`), []byte(`{"plan":null}`))
	prices := testPrices(f)
	f.Fuzz(func(t *testing.T, kind uint8, object, previous []byte) {
		evt := Verified{}
		evt.ID, evt.Created = "evt_fuzz", 1700000000
		evt.Type = LifecycleTypes[int(kind)%len(LifecycleTypes)]
		evt.Data = &stripe.EventData{Raw: object}
		_ = json.Unmarshal(previous, &evt.Data.PreviousAttributes)
		lc, err := ParseLifecycle(evt, prices)
		if err != nil {
			if !errors.Is(err, ErrPayload) && !errors.Is(err, ErrNoChange) && !errors.Is(err, plans.ErrUnknownPlan) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if !ValidCustomerID(lc.CustomerID) || lc.Msg == nil || subjects.New(lc.Subject) == nil {
			t.Fatalf("accepted %+v", lc)
		}
		if subjects.New(lc.Subject).ProtoReflect().Descriptor() != lc.Msg.ProtoReflect().Descriptor() {
			t.Fatalf("message %T on %s", lc.Msg, lc.Subject)
		}
		// What is accepted must encode (the bus publishes protojson).
		if _, err := protojson.Marshal(lc.Msg); err != nil {
			t.Fatalf("accepted an event that cannot be encoded: %v", err)
		}
		if pc, ok := lc.Msg.(*pb.CustomerPlanChanged); ok {
			if _, err := plans.Lookup(pc.Plan); err != nil || pc.Plan == pc.PreviousPlan {
				t.Fatalf("plan change %q → %q", pc.PreviousPlan, pc.Plan)
			}
		}
		ref := lc.Msg.(interface{ GetStripe() *pb.StripeRef }).GetStripe()
		if ref.GetEventId() != "evt_fuzz" || !ValidSubscriptionID(ref.GetSubscriptionId()) {
			t.Fatalf("stripe ref %v", ref)
		}
	})
}
