// Package openclaw is the runtime's OpenClaw engine: on a plan whose engine
// is plans.EngineOpenClaw the runtime stays the instance's front door (keys,
// quotas, usage, /status, /health, the OpenAI-compatible and memory APIs)
// and runs the real OpenClaw gateway beside itself as a supervised child.
//
// The gateway listens on a private loopback port chosen at start, inside a
// bubblewrap sandbox that shows it only its own state directory, the
// read-only Node/OpenClaw install and the system's libraries (Sandbox). It
// inherits the runtime's uid and cgroup, which the process compute driver
// sets per customer. Its configuration (openclaw.json) is rendered from the
// plan (Render): the platform's model endpoint as its only provider, the
// OpenAI-compatible chat endpoint on, loopback bind, trusted-proxy auth (the
// runtime's own calls use the gateway password, the Control UI comes through
// ControlUI with a per-start proxy identity), and the customer's workspace
// as the agent's workspace.
//
// The gateway token is random per runtime start, held in memory and handed
// to the gateway in its environment only: it is never written to the state
// directory, logged (the child's output is redacted), shown in /status or an
// error, or part of the workspace the customer exports.
//
// Chat reaches the gateway through Gateway.Provider, an llm.Provider, so a
// turn on the openclaw engine goes through the runtime's own chat service:
// authentication, quota checks, conversation storage and usage metering
// (from the usage the gateway reports) are the same as on the runtime
// engine. WorkspaceSync keeps the customer's workspace in the database and
// the agent's directory one set of files (memories both ways). The gateway is restarted with backoff when it dies and killed
// with the runtime (Pdeathsig and bubblewrap's --die-with-parent).
package openclaw
