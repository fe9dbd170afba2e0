package deploy

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/sluicehq/sluice"
)

// Masked is shown instead of a secret value.
const Masked = "(secret)"

// Diff computes the change set that takes env from `from` (nil: nothing runs) to `to`.
// It is pure; the digest covers everything that would change, so an approval of one change set
// cannot authorise another.
func Diff(env string, from *sluice.Version, to sluice.Version) sluice.ChangeSet {
	cs := sluice.ChangeSet{Environment: env, From: from, To: to, Strategy: to.Strategy}
	var old sluice.Version
	if from != nil {
		old = *from
	}
	add := func(field, a, b string, replaces bool) {
		if a != b || (from == nil && b != "") {
			cs.Changes = append(cs.Changes, sluice.Change{Field: field, From: a, To: b, Replaces: replaces})
		}
	}
	add("artifact", old.Artifact, to.Artifact, true)
	add("revision", old.Revision, to.Revision, true)
	add("command", quote(old.Command), quote(to.Command), true)
	add("port_env", old.PortEnv, to.PortEnv, true)
	add("health.path", old.HealthPath, to.HealthPath, true)
	add("health.interval", durationText(old.HealthEvery), durationText(to.HealthEvery), true)
	add("health.timeout", durationText(old.HealthLimit), durationText(to.HealthLimit), true)
	add("health.start_timeout", durationText(old.StartTimeout), durationText(to.StartTimeout), true)
	for _, key := range unionKeys(old.Env, to.Env) {
		a, inOld := old.Env[key]
		b, inNew := to.Env[key]
		if inOld && inNew && a == b {
			continue
		}
		if secret(key, old.Secrets, to.Secrets) {
			a, b = maskIf(inOld, a), maskIf(inNew, b)
		}
		if !inOld {
			a = "(unset)"
		}
		if !inNew {
			b = "(unset)"
		}
		cs.Changes = append(cs.Changes, sluice.Change{Field: "env." + key, From: a, To: b, Replaces: true})
	}
	add("secrets", strings.Join(old.Secrets, ","), strings.Join(to.Secrets, ","), true)
	for _, name := range unionKeys(old.SecretHashes, to.SecretHashes) {
		a, b := old.SecretHashes[name], to.SecretHashes[name]
		if a == b {
			continue
		}
		fromText := secretText(a)
		if a == "" && from != nil && old.SecretHashes == nil && secret(name, old.Secrets) {
			fromText = "(not recorded)" // planned before Sluice kept secret hashes
		}
		cs.Changes = append(cs.Changes, sluice.Change{Field: "secret." + name, From: fromText, To: secretText(b), Replaces: true})
	}
	add("strategy", strategyText(from, old.Strategy), to.Strategy.String(), false)
	Seal(&cs)
	return cs
}

// Seal sets cs.Digest: the sha256 of the change set's canonical JSON with the digest itself
// left out (encoding/json sorts map keys, which makes the form canonical). Every provider's
// Prepare seals what it returns, so a digest means the same thing whoever prepared it.
func Seal(cs *sluice.ChangeSet) {
	c := *cs
	c.Digest = ""
	b, err := json.Marshal(c)
	if err != nil {
		panic(fmt.Sprintf("marshal change set: %v", err)) // only plain data: cannot fail
	}
	sum := sha256.Sum256(b)
	cs.Digest = "sha256:" + hex.EncodeToString(sum[:])
}

// NeedsNewVersion reports whether applying cs needs a new version, rather than only recording a
// new strategy.
func NeedsNewVersion(cs *sluice.ChangeSet) bool {
	for _, c := range cs.Changes {
		if c.Replaces {
			return true
		}
	}
	return false
}

func strategyText(from *sluice.Version, s sluice.Strategy) string {
	if from == nil {
		return ""
	}
	return s.String()
}

func durationText(d sluice.Duration) string {
	if d == 0 {
		return ""
	}
	b, _ := d.MarshalJSON()
	return strings.Trim(string(b), `"`)
}

func quote(args []string) string {
	q := make([]string, len(args))
	for i, a := range args {
		q[i] = fmt.Sprintf("%q", a)
	}
	return strings.Join(q, " ")
}

func unionKeys(a, b map[string]string) []string {
	seen := map[string]bool{}
	var keys []string
	for _, m := range []map[string]string{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	sort.Strings(keys)
	return keys
}

func secret(key string, lists ...[]string) bool {
	for _, l := range lists {
		for _, s := range l {
			if s == key {
				return true
			}
		}
	}
	return false
}

// secretText shows a secret's keyed hash the way a change set lists it: enough of it to see
// that it changed, nothing of the value.
func secretText(hash string) string {
	if hash == "" {
		return "(unset)"
	}
	return "(secret " + hash[:min(8, len(hash))] + ")"
}

// SecretHash is the keyed hash of a secret's value that change sets compare: hex
// HMAC-SHA256 under key of the name and the value. Without the key it reveals nothing of the
// value, even a short or guessable one.
func SecretHash(key []byte, name, value string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(name))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

func maskIf(present bool, v string) string {
	if present && v != "" {
		return Masked
	}
	return v
}

// CheckSealed refuses a missing change set, or one whose content no longer matches its digest:
// what was reviewed is what is applied. Every provider calls it first in Apply.
func CheckSealed(cs *sluice.ChangeSet) error {
	if cs == nil {
		return sluice.Errorf(sluice.EINVALID, "no change set to apply; prepare one first")
	}
	sealed := *cs
	Seal(&sealed)
	if sealed.Digest != cs.Digest {
		return sluice.Errorf(sluice.ECONFLICT, "change set %s of %s does not match its content (it would be %s); nothing was deployed. Prepare and review it again",
			sluice.ShortDigest(cs.Digest), cs.Environment, sluice.ShortDigest(sealed.Digest))
	}
	return nil
}
