package notice

import (
	"fmt"
	"strings"

	pb "clawdbot.cloud/proto/gen/clawdbot/v1"
)

// template is the subject and text of one kind of notice. Texts never
// carry a key or any other secret: a notice holds none.
type template struct {
	subject string
	lines   func(n *pb.CustomerNotice) []string
}

func (t template) render(n *pb.CustomerNotice, name string) (subject, body string) {
	greeting := "Hello,"
	if name != "" {
		greeting = "Hello " + name + ","
	}
	lines := append([]string{greeting, ""}, t.lines(n)...)
	lines = append(lines, "", "— Clawdbot Cloud")
	return t.subject, strings.Join(lines, "\n")
}

func detail(n *pb.CustomerNotice, k, def string) string {
	if v := n.GetDetails()[k]; v != "" {
		return v
	}
	return def
}

var templates = map[string]template{
	"welcome": {"Your Clawdbot assistant is ready", func(n *pb.CustomerNotice) []string {
		return []string{
			"Your personal assistant is running at:",
			"  " + n.GetInstanceUrl(),
			"",
			"Your API key was shown to you once when provisioning finished; keep it safe.",
			"You can create a new key from your account page at any time.",
		}
	}},
	"trial_will_end": {"Your trial is ending soon", func(n *pb.CustomerNotice) []string {
		return []string{fmt.Sprintf("Your free trial ends on %s. Your subscription continues automatically "+
			"unless you cancel it before then.", detail(n, "trial_end", "soon"))}
	}},
	"payment_failed": {"Your payment failed", func(n *pb.CustomerNotice) []string {
		return []string{"We could not collect your latest payment.",
			fmt.Sprintf("Please update your payment method before %s to keep your assistant running.",
				detail(n, "grace_period_end", "the end of the grace period"))}
	}},
	"suspended": {"Your assistant is suspended", func(n *pb.CustomerNotice) []string {
		return []string{"Your assistant is suspended because your payment did not go through.",
			"Your data is kept. Update your payment method and it resumes right away."}
	}},
	"resumed": {"Your assistant is back", func(n *pb.CustomerNotice) []string {
		return []string{"Thank you: your payment went through and your assistant is running again at",
			"  " + n.GetInstanceUrl()}
	}},
	"canceled": {"Your subscription is canceled", func(n *pb.CustomerNotice) []string {
		return []string{"Your subscription is canceled and your assistant is stopped.",
			fmt.Sprintf("Your data is kept until %s; subscribe again before then to get it back.",
				detail(n, "delete_at", "30 days from now"))}
	}},
	"deleted": {"Your data was deleted", func(n *pb.CustomerNotice) []string {
		return []string{"As announced, your assistant's data has now been deleted for good."}
	}},
	"quota_80": {"You have used 80% of this month's messages", func(n *pb.CustomerNotice) []string {
		return []string{fmt.Sprintf("You have used %s of the %s messages your %s plan includes this month.",
			detail(n, "messages", "80%"), detail(n, "monthly_messages", "monthly"), n.GetPlan()),
			fmt.Sprintf("The allowance resets on %s. Upgrade your plan for more.", detail(n, "reset_at", "the 1st"))}
	}},
	"telegram_broken": {"Your Telegram bot stopped working", func(n *pb.CustomerNotice) []string {
		bot := detail(n, "bot_username", "")
		if bot != "" {
			bot = " @" + bot
		}
		return []string{"Your assistant's Telegram bot" + bot + " stopped answering:",
			"  " + detail(n, "reason", "Telegram refused its token."),
			"",
			"Open your dashboard and connect the bot again with a new token from @BotFather:",
			"  the Telegram card, \"Connect bot\". Your conversations and memories are kept."}
	}},
	"quota_100": {"You have used all of this month's messages", func(n *pb.CustomerNotice) []string {
		return []string{fmt.Sprintf("You have used all %s messages your %s plan includes this month; "+
			"your assistant answers again when the allowance resets on %s.",
			detail(n, "monthly_messages", "the"), n.GetPlan(), detail(n, "reset_at", "the 1st")),
			"Upgrade your plan to continue now."}
	}},
}
