#!/bin/sh
# Prints the directory of the npm package @cdklabs/cdk-validator-cfnguard, which ships a Linux
# x86-64 cfn-guard binary (bin/ubuntu/x86_64/cfn-guard) and the AWS Control Tower guard rules
# (rules/control-tower/cfn-guard). Fetches it with npm once into a cache directory.
#
#   dir=$(bench/fetch-cfn-guard.sh) || exit 1
#
# Exits 1, with a sentence on stderr, where npm is missing or the fetch fails.
set -eu

version=${CFN_GUARD_PACKAGE_VERSION:-0.0.62}
cache=${XDG_CACHE_HOME:-$HOME/.cache}/sluice/cdk-validator-cfnguard-$version
if [ -x "$cache/package/bin/ubuntu/x86_64/cfn-guard" ]; then
	echo "$cache/package"
	exit 0
fi
if ! command -v npm >/dev/null 2>&1; then
	echo "npm is not installed: cannot fetch @cdklabs/cdk-validator-cfnguard for cfn-guard" >&2
	exit 1
fi
mkdir -p "$cache"
tmp=$(mktemp -d "$cache/fetch.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
(cd "$tmp" && timeout 180 npm pack --silent "@cdklabs/cdk-validator-cfnguard@$version" >/dev/null 2>&1) || {
	echo "npm pack @cdklabs/cdk-validator-cfnguard@$version failed" >&2
	exit 1
}
tar xzf "$tmp"/*.tgz -C "$tmp"
rm -rf "$cache/package"
mv "$tmp/package" "$cache/package"
chmod +x "$cache/package/bin/ubuntu/x86_64/cfn-guard"
echo "$cache/package"
