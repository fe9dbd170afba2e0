// Command gen cuts the CloudFormation resource database of the npm package
// @aws-cdk/aws-service-spec (db.json.gz) down to what `sluice lint` checks, and writes it as
// lint/cfnspec/spec.json.gz. `make cfnspec` runs it:
//
//	go run ./lint/internal/gen -db path/to/db.json.gz -source "@aws-cdk/aws-service-spec@0.1.216" -out lint/cfnspec/spec.json.gz
//
// Documentation, replacement behaviour, metrics and events are dropped; types no resource uses are
// dropped. The database's SAM types lag SAM itself, so the properties, attributes and types SAM
// has added since are filled in from samExtras below, written by hand from the SAM specification.
package main

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"

	"github.com/sluicehq/sluice/lint/cfnspec"
)

type dbType struct {
	Type      string  `json:"type"`
	Element   *dbType `json:"element"`
	Reference *struct {
		Ref string `json:"$ref"`
	} `json:"reference"`
	Types         []dbType `json:"types"`
	AllowedValues []any    `json:"allowedValues"`
}

type dbProperty struct {
	Type          dbType   `json:"type"`
	Required      bool     `json:"required"`
	PreviousTypes []dbType `json:"previousTypes"`
}

type dbResource struct {
	ID         string                `json:"$id"`
	CFNType    string                `json:"cloudFormationType"`
	Properties map[string]dbProperty `json:"properties"`
	Attributes map[string]any        `json:"attributes"`
	Transform  string                `json:"cloudFormationTransform"`
}

type dbTypeDef struct {
	ID         string                `json:"$id"`
	Name       string                `json:"name"`
	Properties map[string]dbProperty `json:"properties"`
}

type db struct {
	Schema struct {
		Resource struct {
			Entities []dbResource `json:"entities"`
		} `json:"resource"`
		TypeDefinition struct {
			Entities []dbTypeDef `json:"entities"`
		} `json:"typeDefinition"`
	} `json:"schema"`
}

func main() {
	dbPath := flag.String("db", "", "path of db.json.gz from @aws-cdk/aws-service-spec")
	source := flag.String("source", "@aws-cdk/aws-service-spec", "what the data is, for the record")
	out := flag.String("out", "lint/cfnspec/spec.json.gz", "file to write")
	flag.Parse()
	if err := run(*dbPath, *source, *out); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}

func run(dbPath, source, out string) error {
	if dbPath == "" {
		return fmt.Errorf("-db is required: the path of db.json.gz from @aws-cdk/aws-service-spec")
	}
	f, err := os.Open(dbPath)
	if err != nil {
		return err
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("read %s: %w", dbPath, err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		return fmt.Errorf("read %s: %w", dbPath, err)
	}
	var d db
	if err := json.NewDecoder(bytes.NewReader(raw)).Decode(&d); err != nil {
		return fmt.Errorf("decode %s: %w", dbPath, err)
	}
	s, err := convert(&d, source)
	if err != nil {
		return err
	}
	addSAMExtras(s)
	// Types CloudFormation accepts that the database leaves out: known by name only.
	for _, name := range []string{"AWS::CDK::Metadata"} {
		if s.Resources[name] == nil {
			s.Resources[name] = &cfnspec.Resource{Properties: map[string]*cfnspec.Property{}, Open: true}
		}
	}
	data, err := cfnspec.Encode(s)
	if err != nil {
		return err
	}
	if err := os.WriteFile(out, data, 0o644); err != nil {
		return err
	}
	fmt.Printf("wrote %s: %d resource types, %d structure types, %d bytes\n", out, len(s.Resources), len(s.Types), len(data))
	return nil
}

// converter turns database types into spec types, numbering the structure types it meets in the
// order it meets them, so only types some resource reaches are kept.
type converter struct {
	defs  map[string]*dbTypeDef
	index map[string]int
	spec  *cfnspec.Spec
}

func convert(d *db, source string) (*cfnspec.Spec, error) {
	c := &converter{defs: map[string]*dbTypeDef{}, index: map[string]int{}, spec: &cfnspec.Spec{Source: source, Resources: map[string]*cfnspec.Resource{}}}
	for i := range d.Schema.TypeDefinition.Entities {
		t := &d.Schema.TypeDefinition.Entities[i]
		c.defs[t.ID] = t
	}
	sort.Slice(d.Schema.Resource.Entities, func(i, j int) bool {
		return d.Schema.Resource.Entities[i].CFNType < d.Schema.Resource.Entities[j].CFNType
	})
	for _, r := range d.Schema.Resource.Entities {
		props, err := c.properties(r.Properties)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", r.CFNType, err)
		}
		res := &cfnspec.Resource{Properties: props, Transform: r.Transform}
		for name := range r.Attributes {
			res.Attributes = append(res.Attributes, name)
		}
		sort.Strings(res.Attributes)
		c.spec.Resources[r.CFNType] = res
	}
	return c.spec, nil
}

func (c *converter) properties(in map[string]dbProperty) (map[string]*cfnspec.Property, error) {
	out := make(map[string]*cfnspec.Property, len(in))
	names := make([]string, 0, len(in))
	for n := range in {
		names = append(names, n)
	}
	sort.Strings(names) // numbering of structure types must not depend on map order
	for _, n := range names {
		p := in[n]
		t, err := c.typ(p.Type)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		// A value of a type the property had before is still accepted by CloudFormation.
		if len(p.PreviousTypes) > 0 {
			alts := []cfnspec.Type{t}
			for _, pt := range p.PreviousTypes {
				prev, err := c.typ(pt)
				if err != nil {
					return nil, fmt.Errorf("%s: %w", n, err)
				}
				alts = append(alts, prev)
			}
			t = cfnspec.Type{Kind: cfnspec.Union, Union: alts}
		}
		out[n] = &cfnspec.Property{Type: t, Required: p.Required}
	}
	return out, nil
}

func (c *converter) typ(t dbType) (cfnspec.Type, error) {
	switch t.Type {
	case "string", "number", "integer", "boolean", "json", "tag", "date-time":
		k := cfnspec.Kind(t.Type)
		if t.Type == "date-time" {
			k = cfnspec.String
		}
		return cfnspec.Type{Kind: k, Allowed: allowed(t.AllowedValues)}, nil
	case "array", "map":
		if t.Element == nil {
			return cfnspec.Type{}, fmt.Errorf("%s without element type", t.Type)
		}
		e, err := c.typ(*t.Element)
		if err != nil {
			return cfnspec.Type{}, err
		}
		return cfnspec.Type{Kind: cfnspec.Kind(t.Type), Element: &e}, nil
	case "union":
		u := cfnspec.Type{Kind: cfnspec.Union}
		for _, alt := range t.Types {
			a, err := c.typ(alt)
			if err != nil {
				return cfnspec.Type{}, err
			}
			u.Union = append(u.Union, a)
		}
		return u, nil
	case "ref":
		if t.Reference == nil {
			return cfnspec.Type{}, fmt.Errorf("ref without reference")
		}
		i, err := c.structType(t.Reference.Ref)
		return cfnspec.Type{Kind: cfnspec.Struct, Ref: i}, err
	}
	return cfnspec.Type{}, fmt.Errorf("unknown type kind %q", t.Type)
}

func (c *converter) structType(id string) (int, error) {
	if i, ok := c.index[id]; ok {
		return i, nil
	}
	def, ok := c.defs[id]
	if !ok {
		return 0, fmt.Errorf("reference to missing type %s", id)
	}
	i := len(c.spec.Types)
	c.index[id] = i
	c.spec.Types = append(c.spec.Types, cfnspec.StructType{Name: def.Name})
	props, err := c.properties(def.Properties)
	if err != nil {
		return 0, fmt.Errorf("type %s: %w", def.Name, err)
	}
	c.spec.Types[i].Properties = props
	return i, nil
}

// allowed writes allowed values as text: the database lists some numbers among them.
func allowed(values []any) []string {
	var out []string
	for _, v := range values {
		out = append(out, fmt.Sprint(v))
	}
	return out
}
