#!/bin/sh
# Checks one generated CloudFormation template of N resources with `sluice lint` and with
# cfn-guard (the AWS Control Tower guard rules from npm @cdklabs/cdk-validator-cfnguard), and
# reports each one's wall time, CPU time and peak memory (/usr/bin/time -v), side by side.
#
#   bench/lint.sh                            # 1,000 resources; guard with the matching rules
#   N=100 bench/lint.sh
#   GUARD_RULES="matching all" bench/lint.sh # also every Control Tower rule (takes many minutes)
#
# "matching" is the 11 Control Tower rules that check what Sluice's default security rules check
# (public access block, TLS-only bucket policy, key rotation, IAM admin and wildcards, security
# groups open to the world, RDS encryption and exposure, public Lambda permissions); "all" is
# every rule file in the package (237). sluice lint runs its schema checks and every default
# security rule in both comparisons.
set -eu

cd "$(dirname "$0")/.."
n=${N:-1000}
rulesets=${GUARD_RULES:-matching}
work=$(mktemp -d "${TMPDIR:-/tmp}/sluice-bench-lint.XXXXXX")
trap 'rm -rf "$work"' EXIT INT TERM

CGO_ENABLED=0 go build -o "$work/sluice" ./cmd/sluice
go run ./lint/internal/bigtemplate/cmd -n "$n" >"$work/template.yaml"
guard_pkg=$(bench/fetch-cfn-guard.sh)
guard="$guard_pkg/bin/ubuntu/x86_64/cfn-guard"
rules="$guard_pkg/rules/control-tower/cfn-guard"
matching="s3/ct-s3-pr-1 s3/ct-s3-pr-8 keymanagementservice/ct-kms-pr-1 identityandaccessmanagement/ct-iam-pr-1
identityandaccessmanagement/ct-iam-pr-2 identityandaccessmanagement/ct-iam-pr-3 ec2/ct-ec2-pr-3 ec2/ct-ec2-pr-4
rds/ct-rds-pr-23 rds/ct-rds-pr-24 lambda/ct-lambda-pr-2"

# measure NAME CMD...: runs CMD under /usr/bin/time -v and prints one table row.
measure() {
	name=$1
	shift
	status=0
	/usr/bin/time -v "$@" >"$work/out" 2>"$work/time" || status=$?
	awk -v name="$name" -v status="$status" -F': ' '
		/Elapsed \(wall clock\)/ { n = split($2, p, ":"); wall = (n == 3) ? p[1]*3600 + p[2]*60 + p[3] : p[1]*60 + p[2] }
		/User time/ { user = $2 }
		/System time/ { sys = $2 }
		/Maximum resident set size/ { rss = $2 }
		END { printf "| %-38s | %8.2f s | %8.2f s | %7.1f MB | %s |\n", name, wall, user + sys, rss / 1024, status }
	' "$work/time"
}

echo "template: $n resources, $(wc -c <"$work/template.yaml") bytes; load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "| run | wall | CPU (user+sys) | max RSS | exit |"
echo "| --- | --- | --- | --- | --- |"
measure "sluice lint (schema + all default rules)" "$work/sluice" lint "$work/template.yaml"
for set in $rulesets; do
	case $set in
	matching)
		args=""
		for r in $matching; do args="$args -r $rules/$r.guard"; done
		# shellcheck disable=SC2086
		measure "cfn-guard, 11 matching CT rules" "$guard" validate -d "$work/template.yaml" $args -S none
		;;
	all)
		measure "cfn-guard, all 237 CT rule files" "$guard" validate -d "$work/template.yaml" -r "$rules" -S none
		;;
	esac
done
echo "cfn-guard exits 19 when a rule fails: the generated template is clean for Sluice's rules but not for every Control Tower rule (object lock, access logging, ...)."
