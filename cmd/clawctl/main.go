// Command clawctl is the operator CLI of Clawdbot Cloud.
//
//	clawctl dev                 run the whole platform on one machine (embedded defaults)
//	clawctl cluster             run the production topology on one machine (3 NATS nodes, 2 of every service)
//	clawctl signup --email ada@example.com --plan pro
//	                            send a signed Stripe checkout and follow it to the credentials
//	clawctl bench               measure signup → instance ready latency
//	clawctl --help              every command; clawctl completion bash|zsh|fish|powershell
//
// Exit codes: 0 success, 1 failure, 2 usage error (unknown command or flag,
// bad arguments, a missing required flag).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
	"golang.org/x/term"

	"clawdbot.cloud/cmd/clawctl/internal/platform"
)

// Exit codes of clawctl.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := execute(ctx, os.Args[1:], stdio())
	stop()
	os.Exit(code)
}

// streams are what a command reads and writes; tests replace them.
type streams struct {
	in          io.Reader
	out, errOut io.Writer
	// isTerminal reports whether in is a terminal someone can answer on.
	isTerminal func() bool
}

// stdio is the process's own streams.
func stdio() streams {
	return streams{in: os.Stdin, out: os.Stdout, errOut: os.Stderr, isTerminal: func() bool {
		return term.IsTerminal(int(os.Stdin.Fd())) // #nosec G115 -- a file descriptor fits an int
	}}
}

// usageError is a mistake in the command line rather than a failure of the
// command: clawctl exits 2 on it.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, a ...any) error { return usageError{fmt.Errorf(format, a...)} }

// execute runs clawctl with args and returns its exit code.
func execute(ctx context.Context, args []string, s streams) int {
	root := newRoot(s)
	root.SetArgs(singleDashLongFlags(root, args))
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	fmt.Fprintln(s.errOut, "clawctl:", err)
	if errors.As(err, new(usageError)) {
		if cmd == nil {
			cmd = root
		}
		fmt.Fprintf(s.errOut, "Run '%s --help' for usage.\n", cmd.CommandPath())
		return exitUsage
	}
	return exitFailure
}

// newRoot builds the command tree.
func newRoot(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "clawctl",
		Short: "The operator CLI of Clawdbot Cloud",
		Long: `clawctl runs the platform on one machine (dev), drives it like Stripe does (signup, stripe),
measures it (bench), watches its events (tail, deadletters), rolls out OpenClaw versions
(openclaw) and operates customers and sagas
through the ingress's admin API (customer, sagas, saga, retry, deprovision).

Exit codes: 0 success, 1 failure, 2 usage error.`,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noSubcommand,
		RunE:          func(*cobra.Command, []string) error { return nil },
	}
	root.SetIn(s.in)
	root.SetOut(s.out)
	root.SetErr(s.errOut)
	root.SetVersionTemplate("clawctl {{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddGroup(&cobra.Group{ID: "platform", Title: "Platform:"}, &cobra.Group{ID: "admin", Title: "Operator commands (the ingress's /v1/admin API):"})
	for _, c := range []*cobra.Command{newDevCmd(), newClusterCmd(), newChaosCmd(), newSignupCmd(), newBenchCmd(), newStripeCmd(), newTailCmd(), newDeadlettersCmd(s), newNATSAuthCmd(), newDBCmd(), newOpenClawCmd()} {
		c.GroupID = "platform"
		root.AddCommand(c)
	}
	for _, c := range newAdminCmds() {
		c.GroupID = "admin"
		root.AddCommand(c)
	}
	return root
}

// singleDashLongFlags rewrites -name and -name=value to --name... where name
// is a long flag of some clawctl command: the standard flag package that
// clawctl used before cobra took both spellings, and scripts and runbooks
// have "clawctl signup -email ...". Arguments after "--" stay as they are.
func singleDashLongFlags(root *cobra.Command, args []string) []string {
	long := map[string]bool{}
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		for _, fs := range []*pflag.FlagSet{c.Flags(), c.PersistentFlags()} {
			fs.VisitAll(func(f *pflag.Flag) { long[f.Name] = true })
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(root)
	out := make([]string, len(args))
	for i, a := range args {
		if a == "--" {
			copy(out[i:], args[i:])
			break
		}
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "-"), "=")
		if strings.HasPrefix(a, "-") && !strings.HasPrefix(a, "--") && len(name) > 1 && long[name] {
			a = "-" + a
		}
		out[i] = a
	}
	return out
}

// noSubcommand is the Args of a command that only groups others: reached
// with no arguments or an unknown one, both usage errors.
func noSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return usageError{errors.New(where(cmd) + "name a command")}
	}
	msg := fmt.Sprintf("%sunknown command %q for %q", where(cmd), args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's own default, set only where it suggests itself
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += "; did you mean " + strings.Join(s, " or ") + "?"
	}
	return usageError{errors.New(msg)}
}

// positional checks a command's positional arguments, a usage error when wrong.
func positional(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{fmt.Errorf("%s%w", where(cmd), err)}
		}
		return nil
	}
}

// where prefixes an error of cmd with its path below clawctl ("deadletters
// redrive: "), as main prefixes every error with "clawctl: ".
func where(cmd *cobra.Command) string {
	if !cmd.HasParent() {
		return ""
	}
	_, path, _ := strings.Cut(cmd.CommandPath(), " ")
	return path + ": "
}

// version is clawctl's module version and VCS revision from the build info.
func version() string {
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return "unknown"
	}
	v := bi.Main.Version
	if v == "" {
		v = "(devel)"
	}
	var rev, at, dirty string
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			rev = s.Value
		case "vcs.time":
			at = s.Value
		case "vcs.modified":
			if s.Value == "true" {
				dirty = "+dirty"
			}
		}
	}
	if rev != "" {
		v += " " + rev[:min(12, len(rev))] + dirty
	}
	if at != "" {
		v += " " + at
	}
	return v + " " + bi.GoVersion
}

// The flags every command spells the same way.

// defaultIngress is the ingress of clawctl dev.
const defaultIngress = "http://127.0.0.1:8080"

// urlFlag is --url, the ingress, default $CLAW_INGRESS_URL.
func urlFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "url", envOr("CLAW_INGRESS_URL", defaultIngress), "ingress URL (env CLAW_INGRESS_URL)")
}

// natsFlag is --nats, the NATS server, default $NATS_URL.
func natsFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "nats", envOr("NATS_URL", "nats://127.0.0.1:4222"), "NATS server URL (env NATS_URL)")
}

// jsonFlag is --json: print JSON instead of text meant for people.
func jsonFlag(fs *pflag.FlagSet, p *bool) {
	fs.BoolVar(p, "json", false, "print JSON")
}

// secretFlag is --secret, the Stripe webhook secret the platform runs with.
func secretFlag(fs *pflag.FlagSet, p *string) {
	fs.StringVar(p, "secret", envOr("STRIPE_WEBHOOK_SECRET", platform.DevWebhookSecret), "Stripe webhook secret the platform runs with (env STRIPE_WEBHOOK_SECRET)")
}

// writeJSON prints v as one line of JSON.
func writeJSON(w io.Writer, v any) error {
	return json.NewEncoder(w).Encode(v)
}
