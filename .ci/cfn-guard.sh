#!/bin/sh
# An independent check of Sluice's template checks: cfn-guard with the AWS Control Tower rules
# that check what Sluice's default security rules check, run over templates that must pass
# (the arguments: files or directories of .yaml/.yml/.json templates) and over the planted
# template that must fail every one of those rules.
#
#   .ci/cfn-guard.sh lint/testdata/valid [more templates or directories...]
#
# Skips, with a message and exit 0, where cfn-guard cannot be fetched (no npm).
set -eu
cd "$(dirname "$0")/.."

if ! pkg=$(bench/fetch-cfn-guard.sh); then
	echo "cfn-guard is not available here (npm missing or offline): skipping the independent check"
	exit 0
fi
guard="$pkg/bin/ubuntu/x86_64/cfn-guard"
rules="$pkg/rules/control-tower/cfn-guard"
args=""
for r in s3/ct-s3-pr-1 s3/ct-s3-pr-8 keymanagementservice/ct-kms-pr-1 identityandaccessmanagement/ct-iam-pr-1 \
	identityandaccessmanagement/ct-iam-pr-2 identityandaccessmanagement/ct-iam-pr-3 ec2/ct-ec2-pr-3 ec2/ct-ec2-pr-4 \
	rds/ct-rds-pr-23 rds/ct-rds-pr-24 lambda/ct-lambda-pr-2; do
	args="$args -r $rules/$r.guard"
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT INT TERM

checked=0
failed=0
for arg in "$@"; do
	if [ -d "$arg" ]; then files=$(find "$arg" -type f \( -name '*.yaml' -o -name '*.yml' -o -name '*.json' \) | sort); else files=$arg; fi
	for f in $files; do
		checked=$((checked + 1))
		# shellcheck disable=SC2086
		if ! "$guard" validate -d "$f" $args -S fail >"$out" 2>&1; then
			failed=$((failed + 1))
			echo "cfn-guard rejects $f:"
			grep -E '^\s*\[CT\.' "$out" | sort | uniq -c || head -40 "$out"
		fi
	done
done

# The planted template breaks each of these rules once: cfn-guard must see every one.
# shellcheck disable=SC2086
if "$guard" validate -d lint/testdata/planted/security.yaml $args -S fail >"$out" 2>&1; then
	echo "cfn-guard passes lint/testdata/planted/security.yaml, which breaks every rule it was given"
	failed=$((failed + 1))
fi
for id in S3.PR.1 S3.PR.8 KMS.PR.1 EC2.PR.3 RDS.PR.23 RDS.PR.24 LAMBDA.PR.2; do
	if ! grep -q "\[CT\.$id\]" "$out"; then
		echo "cfn-guard does not report CT.$id on lint/testdata/planted/security.yaml, where Sluice does"
		failed=$((failed + 1))
	fi
done
if [ "$failed" -gt 0 ]; then
	echo "cfn-guard disagrees with Sluice's checks $failed time(s)"
	exit 1
fi
echo "cfn-guard agrees: $checked template(s) pass the matching Control Tower rules, the planted one fails each"
