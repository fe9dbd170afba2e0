#!/bin/sh
# Pre-traffic hook: runs after the new version is healthy and before any user traffic reaches it.
# SLUICE_ENDPOINT reaches only the new version here. A failure rolls the deployment back.
#
# It checks that the endpoint answers healthy and that the version answering is the revision being
# deployed. It reads the version from the X-Version header of /healthz rather than from /version,
# so that a version which is healthy but broken (see breakprod.go) passes this hook, receives
# traffic, and is caught by the environment's alarm, as a real regression would be.
set -eu
hook=pre_traffic
cd "$(dirname "$0")/.."
. scripts/probe.sh

echo "$hook: checking $endpoint is healthy and runs version $revision"
probe -n 3 -body ok -header "X-Version=$revision" "$endpoint/healthz" || die "the new version is not healthy or is not $revision"
echo "$hook: passed"
