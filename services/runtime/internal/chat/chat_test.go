package chat

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"clawdbot.cloud/pkg/customerdb"
	"clawdbot.cloud/services/runtime/internal/llm"
)

func TestCheck(t *testing.T) {
	var tooLong *TooLongError
	for _, tc := range []struct {
		msg  string
		want func(error) bool
	}{
		{"hello", func(err error) bool { return err == nil }},
		{strings.Repeat("🙂", MaxMessageChars), func(err error) bool { return err == nil }},
		{strings.Repeat("🙂", MaxMessageChars+1), func(err error) bool { return errors.As(err, &tooLong) && tooLong.Chars == MaxMessageChars+1 }},
		{"  \n\t", func(err error) bool { return errors.Is(err, ErrEmptyMessage) }},
		{"", func(err error) bool { return errors.Is(err, ErrEmptyMessage) }},
		{"a\x00", func(err error) bool { return errors.Is(err, ErrInvalidMessage) }},
		{"a\xff", func(err error) bool { return errors.Is(err, ErrInvalidMessage) }},
	} {
		if err := Check(tc.msg); !tc.want(err) {
			t.Errorf("Check(%.20q) = %v", tc.msg, err)
		}
	}
}

func TestTitle(t *testing.T) {
	for in, want := range map[string]string{
		"  Plan my   week\nwith details": "Plan my week",
		strings.Repeat("é", 100):         strings.Repeat("é", titleChars-1) + "…",
		"short":                          "short",
	} {
		if got := title(in); got != want {
			t.Errorf("title(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestHistory(t *testing.T) {
	msg := func(id int64, role, content string) customerdb.Message {
		return customerdb.Message{ID: id, Role: role, Content: content}
	}
	u, a := customerdb.RoleUser, customerdb.RoleAssistant
	big := strings.Repeat("x", historyChars/2)
	for _, tc := range []struct {
		name string
		msgs []customerdb.Message
		last int64
		want []llm.Message
	}{
		{"new conversation", []customerdb.Message{msg(1, u, "hi")}, 1,
			[]llm.Message{{Role: llm.User, Content: "hi"}}},
		{"continued", []customerdb.Message{msg(1, u, "a"), msg(2, a, "b"), msg(3, u, "c")}, 3,
			[]llm.Message{{Role: llm.User, Content: "a"}, {Role: llm.Assistant, Content: "b"}, {Role: llm.User, Content: "c"}}},
		{"a concurrent later turn is left out", []customerdb.Message{msg(1, u, "a"), msg(2, u, "b"), msg(3, a, "late")}, 2,
			[]llm.Message{{Role: llm.User, Content: "a"}, {Role: llm.User, Content: "b"}}},
		{"empty reply skipped", []customerdb.Message{msg(1, u, "a"), msg(2, a, ""), msg(3, u, "c")}, 3,
			[]llm.Message{{Role: llm.User, Content: "a"}, {Role: llm.User, Content: "c"}}},
		{"oldest dropped past the budget, never starting with the assistant",
			[]customerdb.Message{msg(1, u, big), msg(2, a, big), msg(3, u, "q")}, 3,
			[]llm.Message{{Role: llm.User, Content: "q"}}},
		{"a huge new message is still sent", []customerdb.Message{msg(1, u, big+big+big)}, 1,
			[]llm.Message{{Role: llm.User, Content: big + big + big}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, history(tc.msgs, tc.last)); diff != "" {
				t.Errorf("history (-want +got):\n%s", diff)
			}
		})
	}
}
