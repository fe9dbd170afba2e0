package spec

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/goccy/go-yaml/ast"
)

// An environment's target says where it runs. The spec knows only the local target; every
// other kind is registered by its provider (in cmd wiring), which decodes its own block:
//
//	target: local                      # the shorthand of target: {local: {}}
//	target:
//	  aws: {account: "123456789012", region: eu-west-1}
//
// Parse hands the block to the kind's Decode with a TargetBlock, which reads keys and reports
// problems with the file's positions and paths, like every other diagnostic.

// TargetKind is one kind of target: its name in the file and the decoder of its block.
type TargetKind struct {
	// Name is the kind's name: target: NAME, or target: {NAME: {...}}.
	Name string
	// Keys are the keys of its block. Any other key is reported as unknown, with a suggestion.
	Keys []string
	// LegacyKeys are keys of the environment itself that this kind read before it had a block
	// (aws: account, region). On an environment of this kind they are read as keys of the block,
	// with a warning that says where they belong; on any other they are ignored, with a warning.
	LegacyKeys []string
	// Decode reads the block and returns the kind's configuration, which Parse keeps as
	// Environment.TargetConfig. It reports problems through b; when it reports an error, what
	// it returns is not used. If nil, the kind has no configuration and its block no keys.
	Decode func(b *TargetBlock) any
}

// Targets is a registry of target kinds. The zero value is empty; use NewTargets.
type Targets struct {
	mu    sync.RWMutex
	kinds map[string]TargetKind
}

// NewTargets returns a registry holding the local target and kinds.
func NewTargets(kinds ...TargetKind) *Targets {
	t := &Targets{kinds: map[string]TargetKind{TargetLocal: localKind}}
	for _, k := range kinds {
		t.Register(k)
	}
	return t
}

// Register adds a kind. It panics when the name is empty or taken, or when its legacy keys are
// keys of an environment already, as database/sql.Register does: registration happens once, at
// start, and a clash is a bug in the wiring. It is safe to call concurrently with Parse.
func (t *Targets) Register(k TargetKind) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if k.Name == "" {
		panic("spec: a target kind needs a name")
	}
	if _, dup := t.kinds[k.Name]; dup {
		panic(fmt.Sprintf("spec: target kind %q registered twice", k.Name))
	}
	for _, key := range k.LegacyKeys {
		if slices.Contains(environmentKeys, key) {
			panic(fmt.Sprintf("spec: target kind %q claims environment key %q", k.Name, key))
		}
	}
	if t.kinds == nil {
		t.kinds = make(map[string]TargetKind)
	}
	t.kinds[k.Name] = k
}

// Names returns the registered kinds' names: local first, the others sorted.
func (t *Targets) Names() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	names := make([]string, 0, len(t.kinds))
	for name := range t.kinds {
		if name != TargetLocal {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return append([]string{TargetLocal}, names...)
}

func (t *Targets) lookup(name string) (TargetKind, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	k, ok := t.kinds[name]
	return k, ok
}

// legacyOwner returns the kind that claims key as a legacy key of environments, if any.
func (t *Targets) legacyOwner(key string) (string, bool) {
	t.mu.RLock()
	defer t.mu.RUnlock()
	for name, k := range t.kinds {
		if slices.Contains(k.LegacyKeys, key) {
			return name, true
		}
	}
	return "", false
}

func (t *Targets) legacyKeys() []string {
	t.mu.RLock()
	defer t.mu.RUnlock()
	var keys []string
	for _, k := range t.kinds {
		keys = append(keys, k.LegacyKeys...)
	}
	sort.Strings(keys)
	return keys
}

// defaultTargets is the registry Parse uses.
var defaultTargets = NewTargets()

// RegisterTarget adds a kind to the registry Parse uses; see Targets.Register.
func RegisterTarget(k TargetKind) { defaultTargets.Register(k) }

// TargetNames returns the names of the kinds Parse knows: local first, the others sorted.
func TargetNames() []string { return defaultTargets.Names() }

// TargetBlock is the block of one environment's target as its kind's Decode reads it. Each
// method that reports a problem places it at the key it names (or at the block, for a key that
// is absent), with the key's path, such as environments[1].target.aws.region.
type TargetBlock struct {
	r      *reader
	path   string
	at     position
	env    string
	fields map[string]field
}

// Path is the block's path in the file, such as environments[1].target.aws.
func (b *TargetBlock) Path() string { return b.path }

// Environment is the name of the environment the block belongs to ("" if it has none).
func (b *TargetBlock) Environment() string { return b.env }

// Has reports whether the block holds key.
func (b *TargetBlock) Has(key string) bool {
	_, ok := b.fields[key]
	return ok
}

// String returns the string at key. It reports false when the key is absent, and when the value
// is not a string, which it reports as an error.
func (b *TargetBlock) String(key string) (string, bool) {
	f, ok := b.fields[key]
	if !ok {
		return "", false
	}
	return b.r.str(f)
}

// Bool returns the boolean at key, like String.
func (b *TargetBlock) Bool(key string) (bool, bool) {
	f, ok := b.fields[key]
	if !ok {
		return false, false
	}
	return b.r.boolean(f)
}

// Int returns the integer at key, like String.
func (b *TargetBlock) Int(key string) (int, bool) {
	f, ok := b.fields[key]
	if !ok {
		return 0, false
	}
	return b.r.integer(f)
}

// Duration returns the duration at key (such as 30s; it must be positive), like String.
func (b *TargetBlock) Duration(key string) (time.Duration, bool) {
	f, ok := b.fields[key]
	if !ok {
		return 0, false
	}
	return b.r.duration(f)
}

// Strings returns the list of strings at key, like String; an element that is not a string is
// reported and left out.
func (b *TargetBlock) Strings(key string) ([]string, bool) {
	f, ok := b.fields[key]
	if !ok {
		return nil, false
	}
	items, ok := b.r.strItems(f, "a list of strings")
	if !ok {
		return nil, false
	}
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = it.s
	}
	return out, true
}

// StringMap returns the mapping of names to strings at key, like String. A name that valid
// rejects is reported with hint (such as "a CloudFormation parameter name") and left out.
func (b *TargetBlock) StringMap(key string, valid func(string) bool, hint string) (map[string]string, bool) {
	f, ok := b.fields[key]
	if !ok {
		return nil, false
	}
	entries, ok := b.r.entries(f.value, f.path)
	if !ok {
		b.r.typeError(f.value, f.pos(), f.path, `a mapping of NAME: "value"`)
		return nil, false
	}
	out := make(map[string]string, len(entries))
	for _, e := range entries {
		b.r.keyAt[e.path] = e.keyPos
		if !valid(e.key) {
			b.r.errorf(e.keyPos, e.path, "%q is not %s", e.key, hint)
			continue
		}
		e.value = b.r.resolve(e.value, e.path)
		if s, ok := b.r.str(e); ok {
			out[e.key] = s
		}
	}
	return out, true
}

// Errorf reports an error about key (a key of the block, or "" for the block itself).
func (b *TargetBlock) Errorf(key, format string, args ...any) {
	at, path := b.where(key)
	b.r.errorf(at, path, format, args...)
}

// Warnf reports a warning about key (a key of the block, or "" for the block itself).
func (b *TargetBlock) Warnf(key, format string, args ...any) {
	at, path := b.where(key)
	b.r.warnf(at, path, format, args...)
}

// Missing reports that the block lacks key; format says what to write.
func (b *TargetBlock) Missing(key, format string, args ...any) {
	b.r.errorf(b.at, joinPath(b.path, key), "missing; "+format, args...)
}

func (b *TargetBlock) where(key string) (position, string) {
	if f, ok := b.fields[key]; ok {
		return f.pos(), f.path
	}
	if key == "" {
		return b.at, b.path
	}
	return b.at, joinPath(b.path, key)
}

// readTarget reads environments[].target (f, absent when its path is empty) and the legacy
// keys among fs, and returns the kind's name and configuration.
func (r *reader) readTarget(envPath, envName string, f field, fs map[string]field) (string, any) {
	name, block := TargetLocal, field{path: joinPath(envPath, "target"), keyPos: r.at(envPath)}
	known := r.targets.Names()
	switch {
	case f.path == "":
	case isString(f.value):
		s, ok := r.str(f)
		if !ok {
			return "", nil
		}
		name, block = s, field{path: joinPath(f.path, s), keyPos: f.pos()}
	case isMapping(f.value):
		entries, _ := r.entries(f.value, f.path)
		if len(entries) != 1 {
			r.errorf(f.pos(), f.path, "a target block names one target and holds its keys, e.g. {%s: {...}}; known: %s", known[len(known)-1], strings.Join(known, ", "))
			return "", nil
		}
		name, block = entries[0].key, entries[0]
		block.value = r.resolve(block.value, block.path)
	default:
		r.typeError(f.value, f.pos(), f.path, "a target such as local, or a mapping such as {aws: {account, region}}")
		return "", nil
	}
	kind, ok := r.targets.lookup(name)
	if !ok {
		at, path := f.pos(), f.path
		if isMapping(f.value) {
			at, path = block.keyPos, block.path
		}
		r.errorf(at, path, "unknown target %q%s", name, didYouMean(name, known))
		return "", nil
	}
	b := &TargetBlock{r: r, path: block.path, at: block.pos(), env: envName, fields: map[string]field{}}
	if block.value != nil {
		if _, isNull := block.value.(*ast.NullNode); !isNull && isMapping(f.value) {
			if b.fields, ok = r.fields(block, kind.Keys); !ok {
				return "", nil
			}
		}
	}
	r.readLegacyTargetKeys(kind, b, fs)
	if kind.Decode == nil {
		return name, nil
	}
	return name, kind.Decode(b)
}

// readLegacyTargetKeys moves the legacy keys of kind from the environment into its block, and
// warns about those of other kinds.
func (r *reader) readLegacyTargetKeys(kind TargetKind, b *TargetBlock, fs map[string]field) {
	for _, key := range r.targets.legacyKeys() {
		f, ok := fs[key]
		if !ok {
			continue
		}
		if !slices.Contains(kind.LegacyKeys, key) {
			owner, _ := r.targets.legacyOwner(key)
			r.warnf(f.keyPos, f.path, "ignored: %s is only used by target %s", key, owner)
			continue
		}
		if first, dup := b.fields[key]; dup {
			r.errorf(f.keyPos, f.path, "given twice: here and in %s (line %d); keep the one in %s", b.path, first.keyPos.line, b.path)
			continue
		}
		r.warnf(f.keyPos, f.path, "deprecated here: move it into the target's block, target: {%s: {%s: ...}}", kind.Name, key)
		b.fields[key] = f
	}
}
