// Package cfnspec is the CloudFormation resource specification Sluice checks templates against:
// every resource type (SAM's AWS::Serverless::* included), its property names and types, which
// properties are required, allowed values where the specification lists them, and the attributes
// Fn::GetAtt may read.
//
// The data is spec.json.gz beside this file, cut down by lint/internal/gen from the npm package
// @aws-cdk/aws-service-spec (Apache-2.0, LICENSE beside it) and embedded, so checks work
// offline. `make cfnspec` fetches the package and regenerates it.
package cfnspec

import (
	"bytes"
	"compress/gzip"
	_ "embed"
	"encoding/json"
	"fmt"
	"sort"
	"sync"
)

// Kind is the kind of a value: a primitive, a list, a map, a structure (a Ref into Spec.Types),
// a tag, free-form JSON or a union of several kinds.
type Kind string

// The kinds the specification uses.
const (
	String  Kind = "string"
	Number  Kind = "number"
	Integer Kind = "integer"
	Boolean Kind = "boolean"
	JSON    Kind = "json"  // any object (a policy document, say), or a string holding one
	Tag     Kind = "tag"   // {Key, Value}
	List    Kind = "array" // Element says of what
	Map     Kind = "map"   // string keys; Element says of what
	Struct  Kind = "ref"   // Ref indexes Spec.Types
	Union   Kind = "union" // any one of Union
)

// Type is the type of a property value.
type Type struct {
	Kind    Kind     `json:"k"`
	Element *Type    `json:"e,omitempty"` // for List and Map
	Ref     int      `json:"r,omitempty"` // for Struct: an index into Spec.Types
	Union   []Type   `json:"u,omitempty"` // for Union
	Allowed []string `json:"v,omitempty"` // for String: the values it may take; if empty, any
}

// Property is one property of a resource or a structure.
type Property struct {
	Type     Type `json:"t"`
	Required bool `json:"q,omitempty"`
}

// StructType is a named structure a property holds (an S3 bucket's BucketEncryption, say).
type StructType struct {
	Name       string               `json:"n"`
	Properties map[string]*Property `json:"p"`
}

// Resource is one resource type.
type Resource struct {
	Properties map[string]*Property `json:"p"`
	// Attributes are the names Fn::GetAtt takes, dotted ones included ("Endpoint.Address").
	Attributes []string `json:"a,omitempty"`
	// Transform names the transform that expands this type ("AWS::Serverless-2016-10-31" for
	// SAM); if empty, CloudFormation knows the type itself.
	Transform string `json:"x,omitempty"`
	// Open types are known by name only: their properties and attributes are not checked.
	Open bool `json:"o,omitempty"`
}

// Spec is the whole specification, as lint/internal/gen builds it for Encode. Readers use DB.
type Spec struct {
	// Source says where the data came from (package and version).
	Source    string               `json:"source"`
	Resources map[string]*Resource `json:"resources"`
	Types     []StructType         `json:"types"`
}

// Attribute reports whether the resource has the GetAtt attribute name.
func (r *Resource) Attribute(name string) bool {
	i := sort.SearchStrings(r.Attributes, name)
	return i < len(r.Attributes) && r.Attributes[i] == name
}

// PropertyNames returns the resource's property names, sorted.
func (r *Resource) PropertyNames() []string { return sortedKeys(r.Properties) }

// PropertyNames returns the structure's property names, sorted.
func (t *StructType) PropertyNames() []string { return sortedKeys(t.Properties) }

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

//go:embed spec.json.gz
var compressed []byte

var (
	loadOnce sync.Once
	loaded   *DB
	loadErr  error
)

// Load returns the embedded specification, read once and shared. It is safe for concurrent use.
func Load() (*DB, error) {
	loadOnce.Do(func() { loaded, loadErr = Open(compressed) })
	return loaded, loadErr
}

// DB is a specification as Encode writes it, read lazily: a resource type or structure is
// decoded the first time it is asked for, so checking a template costs what the template uses,
// not the 1,800 types. Its methods are safe for concurrent use; callers must not change what
// they return.
type DB struct {
	source    string
	resources map[string]json.RawMessage
	types     []json.RawMessage
	names     []string

	mu            sync.Mutex
	resourceCache map[string]*Resource
	typeCache     map[int]*StructType
}

// Open reads a gzip-compressed specification as Encode writes it.
func Open(gz []byte) (*DB, error) {
	zr, err := gzip.NewReader(bytes.NewReader(gz))
	if err != nil {
		return nil, fmt.Errorf("read resource specification: %w", err)
	}
	var wire struct {
		Source    string                     `json:"source"`
		Resources map[string]json.RawMessage `json:"resources"`
		Types     []json.RawMessage          `json:"types"`
	}
	if err := json.NewDecoder(zr).Decode(&wire); err != nil {
		return nil, fmt.Errorf("read resource specification: %w", err)
	}
	return &DB{
		source: wire.Source, resources: wire.Resources, types: wire.Types, names: sortedKeys(wire.Resources),
		resourceCache: map[string]*Resource{}, typeCache: map[int]*StructType{},
	}, nil
}

// Source says where the data came from (package and version).
func (db *DB) Source() string { return db.source }

// TypeNames returns every resource type name, sorted.
func (db *DB) TypeNames() []string { return db.names }

// Resource returns the resource type name, or nil if the specification has no such type.
func (db *DB) Resource(name string) *Resource {
	db.mu.Lock()
	defer db.mu.Unlock()
	if r, ok := db.resourceCache[name]; ok {
		return r
	}
	raw, ok := db.resources[name]
	if !ok {
		return nil
	}
	var r Resource
	if err := json.Unmarshal(raw, &r); err != nil || r.Properties == nil {
		r = Resource{Properties: map[string]*Property{}, Open: true} // damaged data: check nothing rather than crash
	}
	sort.Strings(r.Attributes)
	db.resourceCache[name] = &r
	return &r
}

// Type returns structure i (a Type's Ref). A Ref outside the specification is an empty open
// structure.
func (db *DB) Type(i int) *StructType {
	db.mu.Lock()
	defer db.mu.Unlock()
	if t, ok := db.typeCache[i]; ok {
		return t
	}
	t := &StructType{Properties: map[string]*Property{}}
	if i >= 0 && i < len(db.types) {
		if err := json.Unmarshal(db.types[i], t); err != nil || t.Properties == nil {
			t = &StructType{Properties: map[string]*Property{}}
		}
	}
	db.typeCache[i] = t
	return t
}

// Encode writes s compressed, in the form Decode reads.
func Encode(s *Spec) ([]byte, error) {
	raw, err := json.Marshal(s)
	if err != nil {
		return nil, fmt.Errorf("encode resource specification: %w", err)
	}
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestCompression)
	if _, err := zw.Write(raw); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
