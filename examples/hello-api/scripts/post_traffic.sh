#!/bin/sh
# Post-traffic hook: runs once all traffic is on the new version. A failure rolls it back.
#
# It sends 20 requests to / and requires every one to answer 200 with a greeting, then checks that
# /version is the revision being deployed.
set -eu
hook=post_traffic
cd "$(dirname "$0")/.."
. scripts/probe.sh

echo "$hook: checking $endpoint answers 20 of 20 requests and runs version $revision"
probe -n 20 -contains '"message":"hello from ' "$endpoint/" || die "the new version does not answer / correctly"
probe -body "$revision" "$endpoint/version" || die "the version serving traffic is not $revision"
echo "$hook: passed"
