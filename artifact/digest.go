package artifact

import (
	"github.com/sluicehq/sluice"
)

// digestPrefix names the only hash artifacts are addressed by.
const digestPrefix = "sha256:"

// CheckDigest reports whether digest is a well-formed artifact digest: "sha256:" followed by 64
// lowercase hexadecimal digits. It returns a *sluice.Error with code sluice.EINVALID otherwise.
// Every method of Store that takes a digest checks it first, so a digest read from a file, a URL
// or a command line can never name a path outside the store.
func CheckDigest(digest string) error {
	if !validDigest(digest) {
		return sluice.Errorf(sluice.EINVALID,
			"%q is not an artifact digest; an artifact digest is %q followed by 64 lowercase hexadecimal digits, as printed by sluice run",
			truncate(digest, 80), digestPrefix)
	}
	return nil
}

func validDigest(digest string) bool {
	if len(digest) != len(digestPrefix)+64 || digest[:len(digestPrefix)] != digestPrefix {
		return false
	}
	for _, c := range digest[len(digestPrefix):] {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f') {
			return false
		}
	}
	return true
}

// shortDigest keeps error sentences readable while staying unambiguous in practice.
func shortDigest(digest string) string {
	if len(digest) <= len(digestPrefix)+12 {
		return digest
	}
	return digest[:len(digestPrefix)+12] + "…"
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
