package cfnspec

import (
	"slices"
	"testing"
)

// The embedded data is whole: every resource type decodes, every structure a property names
// exists, and the types and attributes the checks rely on are there.
func TestEmbeddedSpecification(t *testing.T) {
	db, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	if n := len(db.TypeNames()); n < 1800 {
		t.Fatalf("%d resource types, want the 1,800 or so of the specification", n)
	}
	var check func(where string, ty Type)
	check = func(where string, ty Type) {
		switch ty.Kind {
		case Struct:
			if ty.Ref < 0 || ty.Ref >= len(db.types) {
				t.Fatalf("%s: structure %d does not exist", where, ty.Ref)
			}
		case List, Map:
			if ty.Element == nil {
				t.Fatalf("%s: %s without an element type", where, ty.Kind)
			}
			check(where, *ty.Element)
		case Union:
			for _, alt := range ty.Union {
				check(where, alt)
			}
		case String, Number, Integer, Boolean, JSON, Tag:
		default:
			t.Fatalf("%s: unknown kind %q", where, ty.Kind)
		}
	}
	for _, name := range db.TypeNames() {
		r := db.Resource(name)
		if r == nil || r.Properties == nil {
			t.Fatalf("%s does not decode", name)
		}
		for p, def := range r.Properties {
			check(name+"."+p, def.Type)
		}
	}
	for i := range db.types {
		for p, def := range db.Type(i).Properties {
			check(db.Type(i).Name+"."+p, def.Type)
		}
	}

	bucket := db.Resource("AWS::S3::Bucket")
	if bucket == nil || !bucket.Attribute("Arn") || bucket.Properties["BucketEncryption"] == nil {
		t.Errorf("AWS::S3::Bucket lacks Arn or BucketEncryption: %+v", bucket)
	}
	pipeline := db.Resource("AWS::CodePipeline::Pipeline")
	if pt := pipeline.Properties["PipelineType"]; pt == nil || !slices.Equal(pt.Type.Allowed, []string{"V1", "V2"}) || !pipeline.Properties["RoleArn"].Required {
		t.Errorf("AWS::CodePipeline::Pipeline: PipelineType %+v", pt)
	}
	for _, sam := range []string{"Function", "Api", "HttpApi", "SimpleTable", "LayerVersion", "StateMachine", "Application", "Connector"} {
		r := db.Resource("AWS::Serverless::" + sam)
		if r == nil || r.Transform != "AWS::Serverless-2016-10-31" {
			t.Errorf("AWS::Serverless::%s is missing or not a SAM type", sam)
		}
	}
	if fn := db.Resource("AWS::Serverless::Function"); !fn.Attribute("Arn") || fn.Properties["SnapStart"] == nil {
		t.Error("AWS::Serverless::Function lacks the hand-written SAM extras (Arn, SnapStart)")
	}
	if db.Resource("AWS::S3::Buckett") != nil {
		t.Error("an unknown type decodes")
	}
}
