#!/bin/sh
# Post-traffic hook: runs once the alias sends all traffic to the new version. Every one of 20
# requests must answer a greeting from the artifact being deployed. A failure rolls back.
set -eu
cd "$(dirname "$0")/.."
GOWORK=off exec go run ./cmd/trafficcheck post
