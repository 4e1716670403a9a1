package saga_test

import (
	"strings"
	"sync/atomic"
	"testing"

	"clawdbot.cloud/pkg/names"
	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
	"clawdbot.cloud/proto/subjects"
)

type adminReply struct {
	Error    string `json:"error"`
	Code     string `json:"code"`
	SagaID   string `json:"saga_id"`
	Customer *struct {
		State     string            `json:"state"`
		Plan      string            `json:"plan"`
		Instance  string            `json:"instance_url"`
		Resources map[string]string `json:"resources"`
		Timers    map[string]string `json:"timers"`
		Sagas     []map[string]any  `json:"sagas"`
	} `json:"customer"`
	Sagas []map[string]any `json:"sagas"`
	Saga  *struct {
		Kind   string           `json:"kind"`
		Status string           `json:"status"`
		Steps  []map[string]any `json:"steps"`
	} `json:"saga"`
}

func TestAdminView(t *testing.T) {
	var failStop atomic.Bool
	failStop.Store(true)
	f := newLifecycle(t, func(c cmd) action {
		if c.Subject == subjects.CmdComputeStop && failStop.Load() {
			return fail
		}
		return reply
	})
	f.start()
	cus := f.active("cs_admin")

	var r adminReply
	f.admin(subjects.AdminSagaCustomerGet, map[string]string{"customer_id": cus}, &r)
	if r.Customer == nil || r.Customer.State != "active" || r.Customer.Plan != "pro" || r.Customer.Resources["compute"] != "running" ||
		r.Customer.Instance == "" || len(r.Customer.Sagas) != 1 {
		t.Fatalf("customer view %+v", r)
	}
	r = adminReply{}
	f.admin(subjects.AdminSagaCustomerGet, map[string]string{"customer_id": "cus_nobody"}, &r)
	if r.Code != "not_found" {
		t.Errorf("unknown customer: %+v", r)
	}
	r = adminReply{}
	f.admin(subjects.AdminSagaList, map[string]string{"status": "bogus"}, &r)
	if r.Code != "bad_request" {
		t.Errorf("bad status: %+v", r)
	}

	// A cancellation whose stop fails ends compensated; the operator retries it.
	f.publish(subjects.CustomerCanceled, &pb.CustomerCanceled{Stripe: ref("cs_admin", "evt_c", 10), CustomerId: cus}, "c")
	cancelID := "cancel-" + cus + "-evt_c"
	f.waitStatus(cancelID, "compensated")
	f.waitCustomer(cus, "active")
	r = adminReply{}
	f.admin(subjects.AdminSagaList, map[string]any{"status": "compensated", "kind": "cancel"}, &r)
	if len(r.Sagas) != 1 || r.Sagas[0]["saga_id"] != cancelID {
		t.Errorf("list: %+v", r.Sagas)
	}
	r = adminReply{}
	f.admin(subjects.AdminSagaGet, map[string]string{"saga_id": cancelID}, &r)
	if r.Saga == nil || r.Saga.Kind != "cancel" || len(r.Saga.Steps) != 2 || r.Saga.Steps[0]["error"] != "simulated failure" {
		t.Errorf("saga view %+v", r.Saga)
	}
	failStop.Store(false)
	r = adminReply{}
	f.admin(subjects.AdminSagaRetry, map[string]string{"saga_id": cancelID}, &r)
	if r.SagaID != "retry1-"+cancelID {
		t.Fatalf("retry: %+v", r)
	}
	f.waitStatus(r.SagaID, "completed")
	f.waitCustomer(cus, "canceled")
	r = adminReply{}
	f.admin(subjects.AdminSagaRetry, map[string]string{"saga_id": names.SignupSagaID("cs_admin")}, &r)
	if r.Code != "conflict" {
		t.Errorf("retry of a completed saga: %+v", r)
	}
	r = adminReply{}
	f.admin(subjects.AdminSagaCustomerGet, map[string]string{"customer_id": cus}, &r)
	if r.Customer.Timers["archive_at"] == "" || r.Customer.Timers["delete_at"] == "" || r.Customer.Resources["api_keys"] != "revoked" {
		t.Errorf("canceled customer view %+v", r.Customer)
	}

	// Force-deprovision deletes everything at once.
	r = adminReply{}
	f.admin(subjects.AdminSagaCustomerDeprovision, map[string]string{"customer_id": cus, "reason": "test"}, &r)
	if r.SagaID == "" {
		t.Fatalf("deprovision: %+v", r)
	}
	f.waitStatus(r.SagaID, "completed")
	c := f.waitCustomer(cus, "deleted")
	if c.Archive != nil || c.Delete != nil {
		t.Errorf("timers left after deprovision: %+v", c)
	}
	for _, s := range []string{subjects.CmdComputeDelete, subjects.CmdWorkspaceDelete, subjects.CmdDatabaseDelete, subjects.CmdDatabaseDropArchive} {
		if got := exactly(f.commands(s), s); got != 1 {
			t.Errorf("%s sent %d times: %v", s, got, f.commands(s))
		}
	}
	r = adminReply{}
	f.admin(subjects.AdminSagaCustomerDeprovision, map[string]string{"customer_id": cus}, &r)
	if r.Code != "conflict" {
		t.Errorf("second deprovision: %+v", r)
	}
}

// exactly counts the commands of seen sent on subject itself.
func exactly(seen []string, subject string) int {
	n := 0
	for _, c := range seen {
		if before, _, _ := strings.Cut(c, "#"); before == subject {
			n++
		}
	}
	return n
}

func TestRetryCompensatedSignup(t *testing.T) {
	var failInstance atomic.Bool
	failInstance.Store(true)
	f := newLifecycle(t, func(c cmd) action {
		if c.Subject == subjects.CmdInstanceCheck && failInstance.Load() {
			return fail
		}
		return reply
	})
	f.start()
	f.signup("cs_again", "evt_cs_again")
	id := names.SignupSagaID("cs_again")
	f.waitStatus(id, "compensated")
	f.waitCustomer("cus_cs_again", "deleted")
	failInstance.Store(false)
	var r adminReply
	f.admin(subjects.AdminSagaRetry, map[string]string{"saga_id": id}, &r)
	if r.SagaID != "retry1-"+id {
		t.Fatalf("retry: %+v", r)
	}
	f.waitStatus(r.SagaID, "completed")
	c := f.waitCustomer("cus_cs_again", "active")
	if c.InstanceURL == "" || c.Plan != "pro" {
		t.Errorf("after retry: %+v", c)
	}
}
