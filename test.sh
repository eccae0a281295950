#!/usr/bin/env bash
# The test command: installs what the tests need if it is missing (tools/install-test-deps.sh), then
# runs the whole NUnit suite and ends with one line "N passed, N failed[, N skipped]".
set -uo pipefail
root="$(cd "$(dirname "$0")" && pwd)"
cd "$root"

tools/install-test-deps.sh || { echo "0 passed, 1 failed"; exit 1; }

# The published binary (the same command the Dockerfile runs) is smoke-tested by the suite.
rm -rf artifacts/publish
tools/publish.sh artifacts/publish > /dev/null || { echo "0 passed, 1 failed"; exit 1; }

log="$(mktemp)"
trap 'rm -f "$log"' EXIT
dotnet test ccx-proxy.sln -c Release --nologo "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# Sum the per-assembly summaries ("Failed!  - Failed: 1, Passed: 9, Skipped: 0, Total: 10, ...").
read -r passed failed skipped < <(sed -nE 's/.*(Passed|Failed)! +- +Failed: +([0-9]+), +Passed: +([0-9]+), +Skipped: +([0-9]+).*/\3 \2 \4/p' "$log" \
  | awk '{p+=$1; f+=$2; s+=$3} END {print p+0, f+0, s+0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1   # the build or a test host failed before it could report
fi
line="$passed passed, $failed failed"
[ "$skipped" -gt 0 ] && line="$line, $skipped skipped"
echo "$line"
exit "$status"
