#!/usr/bin/env bash
# Installs what the test suite needs on a fresh Debian machine, only where it is missing:
# - redis-server (Debian package): the Redis tests start their own server on a free loopback port;
# - the Claude Code CLI at two pinned versions (npm), into .test-tools/ in the repository:
#   2.1.197 is the newest whose "engines" field allows Node 20, 2.1.330 a newer one that installs
#   with an engines warning and runs fine. The end-to-end tests drive both;
# - the Codex CLI and the Gemini CLI at pinned versions (npm), into .test-tools/ as well;
# - yamllint (Debian package) and tools/k8s-validate's npm packages, at the versions its package-lock.json
#   pins (into tools/k8s-validate/node_modules, ignored by git): the tests of the Kubernetes manifests in
#   deploy/ run both (tests/Proxy.Tests/Deploy).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v redis-server >/dev/null 2>&1; then
  echo "installing redis-server (apt)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq redis-server >/dev/null
fi

if ! command -v yamllint >/dev/null 2>&1; then
  echo "installing yamllint (apt)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq yamllint >/dev/null
fi

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "installing nodejs and npm (apt)"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq nodejs npm >/dev/null
fi

for version in 2.1.197 2.1.330; do
  dir="$root/.test-tools/claude-code-$version"
  if [ ! -x "$dir/node_modules/.bin/claude" ]; then
    echo "installing @anthropic-ai/claude-code@$version (npm)"
    mkdir -p "$dir"
    (cd "$dir" && npm install --no-audit --no-fund --loglevel=error --prefix "$dir" "@anthropic-ai/claude-code@$version" >/dev/null)
  fi
  "$dir/node_modules/.bin/claude" --version >/dev/null
done

# The Codex CLI (OpenAI Responses over /v1/responses), pinned; a native binary that runs offline.
codex_version=0.171.0
codex_dir="$root/.test-tools/codex-$codex_version"
if [ ! -x "$codex_dir/node_modules/.bin/codex" ]; then
  echo "installing @openai/codex@$codex_version (npm)"
  mkdir -p "$codex_dir"
  (cd "$codex_dir" && npm install --no-audit --no-fund --loglevel=error --prefix "$codex_dir" "@openai/codex@$codex_version" >/dev/null)
fi
"$codex_dir/node_modules/.bin/codex" --version >/dev/null

# The Gemini CLI (Gemini generateContent over /v1beta), pinned; runs offline against GOOGLE_GEMINI_BASE_URL.
gemini_version=0.61.0
gemini_dir="$root/.test-tools/gemini-cli-$gemini_version"
if [ ! -x "$gemini_dir/node_modules/.bin/gemini" ]; then
  echo "installing @google/gemini-cli@$gemini_version (npm)"
  mkdir -p "$gemini_dir"
  (cd "$gemini_dir" && npm install --no-audit --no-fund --loglevel=error --prefix "$gemini_dir" "@google/gemini-cli@$gemini_version" >/dev/null)
fi
"$gemini_dir/node_modules/.bin/gemini" --version >/dev/null

validator="$root/tools/k8s-validate"
if ! node "$validator/validate.mjs" --check-install >/dev/null 2>&1; then
  echo "installing tools/k8s-validate (npm ci)"
  (cd "$validator" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi
node "$validator/validate.mjs" --check-install >/dev/null
