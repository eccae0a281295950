#!/usr/bin/env bash
# The one publish command, shared by the Dockerfile and the test suite's smoke test of the
# published binary, so what the container runs is what the tests ran.
#   tools/publish.sh OUTPUT_DIR [extra dotnet publish arguments]
set -euo pipefail
out="${1:?usage: tools/publish.sh OUTPUT_DIR [dotnet publish args]}"
shift
cd "$(dirname "$0")/.."
dotnet publish src/Proxy/CcxProxy.csproj -c Release -o "$out" --nologo "$@"
cp -r channels "$out/channels"
