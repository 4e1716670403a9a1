// Command clawctl is the operator CLI of Clawdbot Cloud.
//
//	clawctl dev                 run the whole platform on one machine (embedded defaults)
//	clawctl signup --email ada@example.com --plan pro
//	                            send a signed Stripe checkout and follow it to the credentials
//	clawctl bench               measure signup → instance ready latency
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	if err != nil && !errors.Is(err, flag.ErrHelp) {
		fmt.Fprintln(os.Stderr, "clawctl:", err)
		os.Exit(1)
	}
}

const usage = `usage: clawctl <command> [flags]

commands:
  dev      run the whole platform on embedded defaults (what make run does)
  signup   send a signed checkout.session.completed and follow provisioning
  bench    measure signup → instance ready latency (sequential and concurrent)
  tail     print decoded events as they are stored (clawctl tail [SUBJECT ...])
  deadletters list|redrive   inspect and re-drive the dead-letter stream
  stripe   send a signed lifecycle webhook (plan-change, payment-failed, cancel, …)
`

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		fmt.Fprint(os.Stderr, usage)
		return errors.New("no command")
	}
	switch args[0] {
	case "dev":
		return runDev(ctx, args[1:])
	case "signup":
		return runSignup(ctx, args[1:])
	case "bench":
		return runBench(ctx, args[1:])
	case "tail":
		return runTail(ctx, args[1:])
	case "stripe":
		return runStripe(ctx, args[1:])
	case "deadletters":
		return runDeadletters(ctx, args[1:])
	case "customer", "sagas", "saga", "retry", "deprovision":
		return runAdmin(ctx, args[0], args[1:])
	case "help", "-h", "--help":
		fmt.Print(usage + "\n" + adminUsage)
		return nil
	default:
		fmt.Fprint(os.Stderr, usage)
		return fmt.Errorf("unknown command %q", args[0])
	}
}
