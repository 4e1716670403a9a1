package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
)

// The admin API's answers are read as plain JSON objects: the CLI shows
// what the saga reports (services/saga/README.md) and tolerates fields it
// does not know, so it keeps working as the shapes grow.
type object = map[string]any

func decodeObject(body []byte, key string) (object, error) {
	var top object
	if err := json.Unmarshal(body, &top); err != nil {
		return nil, fmt.Errorf("answer is not JSON: %w", err)
	}
	if key == "" {
		return top, nil
	}
	o, ok := top[key].(object)
	if !ok {
		return nil, fmt.Errorf("answer has no %q object", key)
	}
	return o, nil
}

// str renders o[k] for a table cell: "-" when absent or empty.
func str(o object, k string) string {
	switch v := o[k].(type) {
	case nil:
		return "-"
	case string:
		if v == "" {
			return "-"
		}
		return v
	case float64:
		return fmt.Sprint(v)
	default:
		b, _ := json.Marshal(v)
		return string(b)
	}
}

// pairs renders a flat object as "k=v k=v", keys sorted; "-" when empty.
func pairs(o object, k string) string {
	m, _ := o[k].(object)
	if len(m) == 0 {
		return "-"
	}
	keys := make([]string, 0, len(m))
	for key := range m {
		keys = append(keys, key)
	}
	sort.Strings(keys)
	var out []string
	for _, key := range keys {
		out = append(out, key+"="+str(m, key))
	}
	return strings.Join(out, "  ")
}

func showCustomer(out io.Writer, body []byte) error {
	c, err := decodeObject(body, "customer")
	if err != nil {
		return err
	}
	w := table(out)
	for _, row := range [][2]string{
		{"customer", str(c, "customer_id")}, {"name", str(c, "name")}, {"email", str(c, "email")},
		{"plan", str(c, "plan")}, {"state", str(c, "state")}, {"subscription", str(c, "subscription_id")},
		{"instance", str(c, "instance_url")}, {"database", str(c, "database_ref")}, {"archive", str(c, "archive_ref")},
		{"resources", pairs(c, "resources")}, {"timers due", pairs(c, "timers")},
		{"active saga", str(c, "active_saga")}, {"pending events", str(c, "pending_events")},
		{"last Stripe event", str(c, "last_stripe_event_at")}, {"created", str(c, "created_at")}, {"updated", str(c, "updated_at")},
	} {
		fmt.Fprintf(w, "%s\t%s\n", row[0], row[1])
	}
	if err := w.Flush(); err != nil {
		return err
	}
	if sagas, _ := c["sagas"].([]any); len(sagas) > 0 {
		fmt.Fprintln(out, "\nsagas:")
		return sagaTable(out, sagas)
	}
	return nil
}

func showSagas(out io.Writer, body []byte) error {
	top, err := decodeObject(body, "")
	if err != nil {
		return err
	}
	sagas, _ := top["sagas"].([]any)
	if len(sagas) == 0 {
		fmt.Fprintln(out, "no sagas")
		return nil
	}
	return sagaTable(out, sagas)
}

func sagaTable(out io.Writer, sagas []any) error {
	w := table(out)
	fmt.Fprintln(w, "SAGA\tKIND\tCUSTOMER\tSTATUS\tPLAN\tUPDATED\tFAILED STEP\tREASON")
	for _, s := range sagas {
		o, _ := s.(object)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", str(o, "saga_id"), str(o, "kind"), str(o, "customer_id"),
			str(o, "status"), str(o, "plan"), str(o, "updated_at"), str(o, "failed_step"), str(o, "reason"))
	}
	return w.Flush()
}

func showSaga(out io.Writer, body []byte) error {
	s, err := decodeObject(body, "saga")
	if err != nil {
		return err
	}
	w := table(out)
	for _, k := range []string{"saga_id", "kind", "customer_id", "status", "plan", "cause", "failed_step", "reason",
		"created_at", "updated_at", "completed_at"} {
		fmt.Fprintf(w, "%s\t%s\n", strings.ReplaceAll(k, "_", " "), str(s, k))
	}
	if err := w.Flush(); err != nil {
		return err
	}
	steps, _ := s["steps"].([]any)
	if len(steps) == 0 {
		return nil
	}
	fmt.Fprintln(out, "\nsteps:")
	w = table(out)
	fmt.Fprintln(w, "STEP\tSTATUS\tATTEMPT\tUNDO ATTEMPT\tSTARTED\tFINISHED\tDEADLINE\tMS\tERROR")
	for _, st := range steps {
		o, _ := st.(object)
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", str(o, "name"), str(o, "status"), str(o, "attempt"),
			str(o, "compensation_attempt"), str(o, "started_at"), str(o, "finished_at"), str(o, "deadline"),
			str(o, "duration_ms"), str(o, "error"))
	}
	return w.Flush()
}

// showStarted prints the saga a retry or deprovision started.
func showStarted(what string) func(io.Writer, []byte) error {
	return func(out io.Writer, body []byte) error {
		top, err := decodeObject(body, "")
		if err != nil {
			return err
		}
		fmt.Fprintf(out, "%s started: saga %s (follow it with: clawctl saga %s)\n", what, str(top, "saga_id"), str(top, "saga_id"))
		return nil
	}
}
