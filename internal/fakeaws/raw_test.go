package fakeaws_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/smithy-go/encoding/cbor"
)

// TestMalformedRequests sends correctly signed requests that no SDK would send: each is
// refused with the code AWS gives, in the shape of the service's protocol, and the server
// keeps serving.
func TestMalformedRequests(t *testing.T) {
	s := start(t)
	keys, _ := s.Root(tooling)
	creds := aws.Credentials{AccessKeyID: keys.AccessKeyID, SecretAccessKey: keys.SecretAccessKey}
	send := func(service, method, path string, headers map[string]string, body []byte) (int, http.Header, string) {
		req, err := http.NewRequest(method, s.URL+path, bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		sum := sha256.Sum256(body)
		if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), service, region, time.Now()); err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, string(b)
	}
	form := map[string]string{"Content-Type": "application/x-www-form-urlencoded"}
	amzJSON := func(target string) map[string]string {
		return map[string]string{"Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": target}
	}
	cborHeaders := map[string]string{"Smithy-Protocol": "rpc-v2-cbor", "Content-Type": "application/cbor"}
	for name, tc := range map[string]struct {
		service, method, path string
		headers               map[string]string
		body                  []byte
		status                int
		code                  string // in the body (XML or JSON) or the error-type header
	}{
		"query: unknown action":       {"sts", "POST", "/", form, []byte("Action=Nope&Version=2011-06-15"), 400, "<Code>InvalidAction</Code>"},
		"query: wrong version":        {"cloudformation", "POST", "/", form, []byte("Action=DescribeStacks&Version=2099-01-01"), 400, "<Code>InvalidAction</Code>"},
		"query: not a form":           {"sts", "POST", "/", map[string]string{"Content-Type": "text/plain"}, []byte("Action=GetCallerIdentity&Version=2011-06-15"), 400, "<Code>InvalidAction</Code>"},
		"query: change set by name":   {"cloudformation", "POST", "/", form, []byte("Action=DescribeChangeSet&Version=2010-05-15&ChangeSetName=x"), 400, "StackName must be specified"},
		"json: not JSON":              {"kms", "POST", "/", amzJSON("TrentService.DescribeKey"), []byte("{"), 400, `"__type":"SerializationException"`},
		"json: wrong type":            {"kms", "POST", "/", amzJSON("TrentService.GenerateDataKey"), []byte(`{"KeyId":"k","NumberOfBytes":"ten"}`), 400, `"__type":"SerializationException"`},
		"json: unknown operation":     {"codedeploy", "POST", "/", amzJSON("CodeDeploy_20141006.Nope"), []byte("{}"), 400, "UnknownOperationException"},
		"json: missing deployment ID": {"codedeploy", "POST", "/", amzJSON("CodeDeploy_20141006.GetDeployment"), []byte("{}"), 400, "DeploymentIdRequiredException"},
		"rest: unknown route":         {"lambda", "DELETE", "/2015-03-31/functions/api", nil, nil, 404, "UnknownOperationException"},
		"rest: bad function name":     {"lambda", "GET", "/2015-03-31/functions/has%20space", nil, nil, 400, "InvalidParameterValueException"},
		"cbor: not CBOR":              {"monitoring", "POST", "/service/GraniteServiceVersion20100801/operation/DescribeAlarms", cborHeaders, []byte{0xff, 0x00}, 400, "SerializationException"},
		"cbor: no protocol header":    {"monitoring", "POST", "/service/GraniteServiceVersion20100801/operation/DescribeAlarms", nil, cbor.Encode(cbor.Map{}), 400, "SerializationException"},
		"cbor: missing times":         {"monitoring", "POST", "/service/GraniteServiceVersion20100801/operation/GetMetricData", cborHeaders, cbor.Encode(cbor.Map{"MetricDataQueries": cbor.List{}}), 400, "MissingParameter"},
		"unknown service":             {"iam", "POST", "/", form, []byte("Action=ListRoles&Version=2010-05-08"), 400, "<Code>UnknownService</Code>"},
	} {
		t.Run(name, func(t *testing.T) {
			status, header, body := send(tc.service, tc.method, tc.path, tc.headers, tc.body)
			text := body + " " + header.Get("X-Amzn-ErrorType") + " " + header.Get("X-Amzn-Query-Error")
			if strings.HasPrefix(header.Get("Content-Type"), "application/cbor") {
				if v, err := cbor.Decode([]byte(body)); err == nil {
					b, _ := json.Marshal(v)
					text += " " + string(b)
				}
			}
			if status != tc.status || !strings.Contains(text, tc.code) {
				t.Fatalf("status %d, %s; want %d with %s", status, text, tc.status, tc.code)
			}
		})
	}
}
