#!/bin/sh
# Pre-traffic hook: runs after the change set and before the alias gives the new version any
# traffic. SLUICE_ENDPOINT is the stack's ApiUrl; the alias still serves the old version, so this
# checks the API's wiring (API, integration, alias, permission). A failure rolls back.
set -eu
cd "$(dirname "$0")/.."
# A go.work above the checkout would leave this module out.
GOWORK=off exec go run ./cmd/trafficcheck pre
