# Sourced by the hook scripts: builds cmd/probe and defines probe(), which runs it.
# Hooks run in a fresh checkout of the revision being deployed, where the built artifact is not
# unpacked, and curl or wget may not be installed; Go is, since the route builds with it. The Go
# build cache makes every build after the first one quick.

die() {
	echo "$hook: $*" >&2
	exit 1
}

[ -n "${SLUICE_ENDPOINT:-}" ] || {
	echo "$hook: SLUICE_ENDPOINT is not set; Sluice sets it when it runs this hook (to try it by hand: SLUICE_ENDPOINT=http://127.0.0.1:8080 sh scripts/$hook.sh)" >&2
	exit 2
}
case $SLUICE_ENDPOINT in
*://*) endpoint=${SLUICE_ENDPOINT%/} ;;
*) endpoint=http://${SLUICE_ENDPOINT%/} ;;
esac

# What the new version reports as its version: the first 7 characters of the revision, or "dev".
revision=dev
if [ -n "${SLUICE_REVISION:-}" ]; then
	revision=$(printf '%.7s' "$SLUICE_REVISION")
fi

# A go.work above the checkout would leave this module out; this script builds only this module.
GOWORK=off
export GOWORK
# Without HOME the go command has nowhere for its build cache.
if [ -z "${GOCACHE:-}" ] && [ -z "${XDG_CACHE_HOME:-}" ] && [ -z "${HOME:-}" ]; then
	GOCACHE=${TMPDIR:-/tmp}/hello-api-gocache
	export GOCACHE
fi

probe_dir=$(mktemp -d) || die "cannot create a temporary directory"
trap 'rm -rf "$probe_dir"' EXIT
trap 'exit 1' HUP INT TERM
go build -o "$probe_dir/probe" ./cmd/probe || die "cannot build cmd/probe (is go on PATH?)"

probe() {
	"$probe_dir/probe" "$@"
}
