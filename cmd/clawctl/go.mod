module clawdbot.cloud/cmd/clawctl

go 1.26
