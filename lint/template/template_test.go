package template_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/sluicehq/sluice/lint/template"
)

// dump writes a tree as one line per node with its position, for comparing.
func dump(n *template.Node, indent string, b *strings.Builder) {
	switch n.Kind {
	case template.Mapping:
		fmt.Fprintf(b, "%s{} %d:%d\n", indent, n.Line, n.Col)
		for _, e := range n.Entries {
			fmt.Fprintf(b, "%s  %s %d:%d =\n", indent, e.Key.Value, e.Key.Line, e.Key.Col)
			dump(e.Value, indent+"    ", b)
		}
	case template.Sequence:
		fmt.Fprintf(b, "%s[] %d:%d\n", indent, n.Line, n.Col)
		for _, it := range n.Items {
			dump(it, indent+"  ", b)
		}
	default:
		fmt.Fprintf(b, "%s%q(%d) %d:%d\n", indent, n.Value, n.Type, n.Line, n.Col)
	}
}

func TestParseYAMLPositionsAndShortForms(t *testing.T) {
	src := `Resources:
  Bucket:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-x"
      Tags: [{Key: a, Value: !Ref Env}]
  Out:
    Value: !GetAtt DB.Endpoint.Address
    Flag: !If [IsProd, true, 10]
    Empty:
`
	root, err := template.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	dump(root, "", &b)
	want := `{} 1:1
  Resources 1:1 =
    {} 2:3
      Bucket 2:3 =
        {} 3:5
          Type 3:5 =
            "AWS::S3::Bucket"(0) 3:11
          Properties 4:5 =
            {} 5:7
              BucketName 5:7 =
                {} 5:19
                  Fn::Sub 5:19 =
                    "${AWS::StackName}-x"(0) 5:24
              Tags 6:7 =
                [] 6:13
                  {} 6:14
                    Key 6:15 =
                      "a"(0) 6:20
                    Value 6:23 =
                      {} 6:30
                        Ref 6:30 =
                          "Env"(0) 6:35
      Out 7:3 =
        {} 8:5
          Value 8:5 =
            {} 8:12
              Fn::GetAtt 8:12 =
                [] 8:20
                  "DB"(0) 8:20
                  "Endpoint.Address"(0) 8:23
          Flag 9:5 =
            {} 9:11
              Fn::If 9:11 =
                [] 9:15
                  "IsProd"(0) 9:16
                  "true"(3) 9:24
                  "10"(1) 9:30
          Empty 10:5 =
            "null"(4) 10:5
`
	if got := b.String(); got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseJSONPositions(t *testing.T) {
	src := "{\n  \"Resources\": {\n    \"Q\": {\"Type\": \"AWS::SQS::Queue\",\n      \"Properties\": {\"DelaySeconds\": 5, \"FifoQueue\": true, \"X\": null, \"L\": [1.5, \"é\", \"z\"]}}\n  }\n}\n"
	root, err := template.Parse("t.json", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	dump(root, "", &b)
	want := `{} 1:1
  Resources 2:3 =
    {} 2:16
      Q 3:5 =
        {} 3:10
          Type 3:11 =
            "AWS::SQS::Queue"(0) 3:19
          Properties 4:7 =
            {} 4:21
              DelaySeconds 4:22 =
                "5"(1) 4:38
              FifoQueue 4:41 =
                "true"(3) 4:54
              X 4:60 =
                "null"(4) 4:65
              L 4:71 =
                [] 4:76
                  "1.5"(2) 4:77
                  "é"(0) 4:82
                  "z"(0) 4:87
`
	if got := b.String(); got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
}

func TestParseRefusesWithPosition(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"anchor", "A: &x 1\nB: *x\n", "t:1:4: YAML anchors"},
		{"merge key", "A:\n  <<: {a: 1}\n", "t:2:3: YAML merge keys"},
		{"two documents", "A: 1\n---\nB: 2\n", "t:2:1: a second YAML document"},
		{"unknown tag", "A: !Reff X\n", "t:1:4: unknown tag !Reff"},
		{"bad json", "{\n  \"A\": [1, 2,]\n}\n", "t:2:14: invalid JSON"},
		{"short json", "{\"A\": [1, 2]\n", "t:2:1: invalid JSON: the template ends too early"},
		{"not a mapping", "- a\n- b\n", "t:1:1: a template is a mapping"},
		{"empty", "  \n", "t:1:1: the template is empty"},
		{"not utf8", "A: \xff\n", "t:1:4: the template is not UTF-8"},
		{"bad yaml", "A: [1, 2\n", "t:"},
		{"bad indentation", "Resources:\n  Q:\n    Type: AWS::SQS::Queue\n   Properties:\n      X: 1\n", "t:4:4: invalid YAML"},
		{"unclosed list", "Resources:\n  Q:\n    Properties:\n      Tags: [a, b\n      X: 1\n", "t:5:7: invalid YAML"},
		{"tab", "Resources:\n  Q:\n\tType: x\n", "t:3:1: invalid YAML: found character '\\t' that cannot start any token; YAML indents with spaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := template.Parse("t", []byte(tt.src))
			var pe *template.Error
			if !errors.As(err, &pe) {
				t.Fatalf("err = %v, want a *template.Error", err)
			}
			if !strings.HasPrefix(err.Error(), tt.want) {
				t.Errorf("err = %q, want it to start %q", err, tt.want)
			}
		})
	}
}

// A tag with nothing after it ("AvailabilityZones: !GetAZs") is an empty call; the keys after
// it belong to the same mapping, not to the tag.
func TestParseEmptyShortFormKeepsSiblings(t *testing.T) {
	src := `Resources:
  Group:
    Type: AWS::AutoScaling::AutoScalingGroup
    Properties:
      AvailabilityZones: !GetAZs
      MinSize: "2"
      MaxSize: "2"
  Next:
    Type: AWS::SQS::Queue
`
	root, err := template.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	props := root.Get("Resources").Get("Group").Get("Properties")
	var keys []string
	for _, e := range props.Entries {
		keys = append(keys, fmt.Sprintf("%s@%d:%d", e.Key.Value, e.Key.Line, e.Key.Col))
	}
	if got := strings.Join(keys, " "); got != "AvailabilityZones@5:7 MinSize@6:7 MaxSize@7:7" {
		t.Errorf("Properties keys: %s", got)
	}
	fn, arg, ok := props.Get("AvailabilityZones").Intrinsic()
	if !ok || fn != "Fn::GetAZs" || arg.Value != "" || arg.Line != 5 || arg.Col != 26 {
		t.Errorf("AvailabilityZones = %s %+v", fn, arg)
	}
	if root.Get("Resources").Get("Next") == nil {
		t.Error("the resource after the empty call was lost")
	}

	// The same in a list, and a call whose argument is a list at its key's indentation.
	src = "A:\n  B: !Select\n    - 0\n    - !GetAZs\n  C: !Join\n  - ''\n  - [x, y]\n  D: 1\n"
	root, err = template.Parse("t.yaml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	dump(root, "", &b)
	want := `{} 1:1
  A 1:1 =
    {} 2:3
      B 2:3 =
        {} 2:6
          Fn::Select 2:6 =
            [] 3:5
              "0"(1) 3:7
              {} 4:7
                Fn::GetAZs 4:7 =
                  ""(0) 4:7
      C 5:3 =
        {} 5:6
          Fn::Join 5:6 =
            [] 6:3
              ""(0) 6:5
              [] 7:5
                "x"(0) 7:6
                "y"(0) 7:9
      D 8:3 =
        "1"(1) 8:6
`
	if got := b.String(); got != want {
		t.Errorf("tree:\n%s\nwant:\n%s", got, want)
	}
}
