// Package busauth is who may do what on the bus: one NATS principal per
// service with subject permissions of least privilege, the operator's
// principal for clawctl and the NATS CLI, and the credentials that go with
// them (random passwords, stored 0600, bcrypt hashes in the server's
// configuration).
//
// The table is the one place that says, for example, that only the ingress
// publishes Stripe's customer events and sends the saga's admin requests,
// that each step service reads only its own cmd.<domain>.> and publishes
// only its own <domain>.* answers, and that customer runtimes get no bus
// credentials at all (they are not in the table). The embedded server of
// `clawctl dev` and of the tests, and the configuration `clawctl nats-auth`
// writes for deploy/, are all built from it.
//
// JetStream is reached through its API subjects, so the permissions cover
// those too: every principal may read the streams' configuration, only the
// saga and the operator may create or update streams, and each service may
// create, read and pull only its own durable consumers, and ack only their
// messages. A consumer with one filter is created through the API subject
// that carries the filter ($JS.API.CONSUMER.CREATE.<stream>.<durable>.<filter>),
// so the permission pins the filter too: the step services' consumers can
// only ever read their own commands. A consumer of several subjects
// (the saga, the read models, the health monitor) is created through the
// subject without a filter, whose permission cannot say which subjects it
// reads: those principals could widen their own consumer's filter. Replies
// go to a per-principal inbox prefix (_INBOX_<name>.), so no service can
// subscribe to another's replies.
package busauth

import (
	"slices"
	"sort"

	"clawdbot.cloud/pkg/bus"
	"clawdbot.cloud/proto/subjects"
)

// Principal names. A service connects as the principal of its own name.
const (
	Ingress   = "ingress"
	Saga      = "saga"
	Neon      = "neon"
	Railway   = "railway"
	Workspace = "workspace"
	Health    = "health"
	Web       = "web"
	// Operator is clawctl and the NATS CLI: every subject. It creates the
	// streams before the services start.
	Operator = "operator"
	// Test is the tests' own principal (assertions, simulated services):
	// every subject, like the operator. It exists only on test servers;
	// the platform's and deploy's configurations never include it.
	Test = "test"
)

// Consumer is a durable consumer a principal may create and read.
type Consumer struct {
	// Durable is the consumer's name on the event stream.
	Durable string
	// Filter is its one filter subject (wildcards allowed), which the
	// permission pins; empty for a consumer of several subjects.
	Filter string
}

// Principal is one identity on the bus and what it may do.
type Principal struct {
	Name string
	// Publish lists the subjects it may publish (JetStream API subjects
	// excluded: they follow from Consumers and ManageStreams).
	Publish []string
	// Subscribe lists the subjects it may subscribe to besides its inbox.
	Subscribe []string
	// Consumers are the durable consumers it runs on the event stream.
	Consumers []Consumer
	// ManageStreams allows creating and updating the streams.
	ManageStreams bool
	// Responds allows answering a request on its reply subject (once,
	// within a minute), whoever sent it: the saga's admin endpoints.
	Responds bool
	// All grants every subject (the operator and tests).
	All bool
}

// InboxPrefix is the prefix of name's reply subjects (bus.InboxPrefix: a
// bus connected with WithCredentials uses it).
func InboxPrefix(name string) string { return bus.InboxPrefix(name) }

// table is every principal. Keep it in step with the services' consumers
// and publishes: TestPermissions and TestJetStreamPermissions check it
// against a real server, and the platform's end-to-end tests run the real
// services under it.
var table = []Principal{
	{
		Name: Ingress,
		Publish: []string{
			subjects.CustomerSignedUp, subjects.CustomerPlanChanged, subjects.CustomerTrialWillEnd,
			subjects.CustomerPaymentFailed, subjects.CustomerPaymentSucceeded, subjects.CustomerCanceled,
			"admin.saga.>", subjects.IngressProgressChanged,
		},
		// Progress recorded by any ingress process wakes the waiting reads of
		// all of them (core NATS, services/ingress/internal/changes).
		Subscribe: []string{subjects.IngressProgressChanged},
		Consumers: []Consumer{{Durable: "ingress-projector"}},
	},
	{
		Name: Saga,
		Publish: []string{
			"cmd.database.>", "cmd.workspace.>", "cmd.compute.>", "cmd.instance.>", "saga.>",
			subjects.CustomerStateChanged, subjects.CustomerNotice,
		},
		// The admin endpoints (a nats micro service: its $SRV discovery
		// subjects too), answered through Responds.
		Subscribe:     []string{"admin.saga.>", "$SRV.>"},
		Consumers:     []Consumer{{Durable: "saga"}},
		ManageStreams: true,
		Responds:      true,
	},
	{Name: Neon, Publish: []string{"database.>"}, Consumers: []Consumer{{Durable: "neon", Filter: subjects.CmdDatabaseAll}}},
	{
		Name: Railway, Publish: []string{"compute.>"}, Consumers: []Consumer{{Durable: "railway", Filter: subjects.CmdComputeAll}},
		// The operator's OpenClaw rollouts (a nats micro service, with its
		// $SRV discovery subjects), answered through Responds. Only the
		// operator may publish there.
		Subscribe: []string{subjects.AdminComputeAll, "$SRV.>"},
		Responds:  true,
	},
	{Name: Workspace, Publish: []string{"workspace.>"}, Consumers: []Consumer{{Durable: "workspace", Filter: subjects.CmdWorkspaceAll}}},
	{
		Name: Health,
		// Its probe results, incident events, restart requests to compute
		// and quota notices to customers.
		Publish:   []string{"instance.>", subjects.CmdComputeRestart, subjects.CustomerNotice},
		Consumers: []Consumer{{Durable: "health", Filter: subjects.CmdInstanceCheck}, {Durable: "health-monitor"}},
	},
	{Name: Web, Consumers: []Consumer{{Durable: "web-accounts"}}},
	{Name: Operator, All: true, ManageStreams: true, Responds: true},
	{Name: Test, All: true, ManageStreams: true, Responds: true},
}

// Lookup returns the principal called name.
func Lookup(name string) (Principal, bool) {
	i := slices.IndexFunc(table, func(p Principal) bool { return p.Name == name })
	if i < 0 {
		return Principal{}, false
	}
	return table[i], true
}

// Platform lists the principals of a running platform: every service and
// the operator, not the tests'.
func Platform() []string {
	var out []string
	for _, p := range table {
		if p.Name != Test {
			out = append(out, p.Name)
		}
	}
	return out
}

// Services lists the principals of the platform's services (the
// operator's and the tests' excluded).
func Services() []string {
	var out []string
	for _, p := range table {
		if !p.All {
			out = append(out, p.Name)
		}
	}
	return out
}

// streams are the streams every principal may read the configuration of.
var streams = []string{subjects.Stream, subjects.DeadLetterStream}

// PublishAllow is every subject p may publish, JetStream's API included,
// sorted.
func (p Principal) PublishAllow() []string {
	if p.All {
		return []string{">"}
	}
	out := slices.Clone(p.Publish)
	for _, s := range streams {
		out = append(out, "$JS.API.STREAM.INFO."+s)
		if p.ManageStreams {
			out = append(out, "$JS.API.STREAM.CREATE."+s, "$JS.API.STREAM.UPDATE."+s)
		}
	}
	for _, c := range p.Consumers {
		create := "$JS.API.CONSUMER.CREATE." + subjects.Stream + "." + c.Durable
		if c.Filter != "" {
			create += "." + c.Filter
		}
		out = append(out, create,
			"$JS.API.CONSUMER.INFO."+subjects.Stream+"."+c.Durable,
			"$JS.API.CONSUMER.MSG.NEXT."+subjects.Stream+"."+c.Durable,
			"$JS.ACK."+subjects.Stream+"."+c.Durable+".>",
			subjects.DeadLetterPrefix+c.Durable)
	}
	sort.Strings(out)
	return out
}

// SubscribeAllow is every subject p may subscribe to, its inbox included,
// sorted.
func (p Principal) SubscribeAllow() []string {
	if p.All {
		return []string{">"}
	}
	out := append(slices.Clone(p.Subscribe), InboxPrefix(p.Name)+".>")
	sort.Strings(out)
	return out
}
