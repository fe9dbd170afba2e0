package main

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"
)

func envOf(vars map[string]string) func(string) string {
	return func(key string) string { return vars[key] }
}

func TestConfigFromEnv(t *testing.T) {
	if got := configFromEnv(envOf(nil)); got.stage != "local" || got.version != "local" || got.artifact != "" || got.breakProd {
		t.Errorf("defaults: %+v", got)
	}
	got := configFromEnv(envOf(map[string]string{"STAGE": "prod", "AWS_LAMBDA_FUNCTION_VERSION": "7", "ARTIFACT_DIGEST": "sha256:abc"}))
	if got.stage != "prod" || got.version != "7" || got.artifact != "sha256:abc" {
		t.Errorf("from the environment: %+v", got)
	}
}

// request is an HTTP API request as the function receives it.
func request(method, path string) events.APIGatewayV2HTTPRequest {
	r := events.APIGatewayV2HTTPRequest{Version: "2.0", RouteKey: "$default", RawPath: path}
	r.RequestContext.HTTP.Method = method
	r.RequestContext.HTTP.Path = path
	return r
}

func TestHandle(t *testing.T) {
	h := newHandler(config{stage: "dev", version: "3", artifact: "sha256:abc"})
	tests := []struct {
		name, method, path string
		status             int
		body               string
		header             [2]string
	}{
		{"greeting", "GET", "/", 200, `{"message":"hello from dev","stage":"dev","version":"3","artifact":"sha256:abc"}` + "\n", [2]string{"Content-Type", "application/json"}},
		{"health", "GET", "/healthz", 200, "ok\n", [2]string{"Content-Type", "text/plain; charset=utf-8"}},
		{"unknown path", "GET", "/nope", 404, "not found: /nope\n", [2]string{}},
		{"wrong method", "POST", "/", 405, "method not allowed; use GET\n", [2]string{"Allow", "GET"}},
		{"wrong method on health", "DELETE", "/healthz", 405, "method not allowed; use GET\n", [2]string{"Allow", "GET"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := h.handle(context.Background(), request(tt.method, tt.path))
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != tt.status || res.Body != tt.body {
				t.Errorf("got %d %q, want %d %q", res.StatusCode, res.Body, tt.status, tt.body)
			}
			if res.Headers["X-Version"] != "3" {
				t.Errorf("X-Version %q", res.Headers["X-Version"])
			}
			if tt.header[0] != "" && res.Headers[tt.header[0]] != tt.header[1] {
				t.Errorf("%s: %q, want %q", tt.header[0], res.Headers[tt.header[0]], tt.header[1])
			}
		})
	}
}

// TestBreakProd: the deliberate break fails / only in prod, with a function error (what
// Lambda's Errors metric counts), and leaves /healthz alone.
func TestBreakProd(t *testing.T) {
	prod := newHandler(config{stage: "prod", version: "4", breakProd: true})
	if _, err := prod.handle(context.Background(), request("GET", "/")); !errors.Is(err, errBrokenProd) {
		t.Errorf("prod GET /: %v, want the deliberate error", err)
	}
	if res, err := prod.handle(context.Background(), request("GET", "/healthz")); err != nil || res.StatusCode != 200 {
		t.Errorf("prod GET /healthz: %d %v", res.StatusCode, err)
	}
	dev := newHandler(config{stage: "dev", version: "4", breakProd: true})
	if res, err := dev.handle(context.Background(), request("GET", "/")); err != nil || res.StatusCode != 200 {
		t.Errorf("dev GET /: %d %v", res.StatusCode, err)
	}
	if deliberatelyBreakProd {
		t.Log("breakprod.go is switched on: prod fails on purpose")
	}
}

// TestPayloadFormat2 decodes an event as API Gateway sends it and encodes the answer as it
// reads it back.
func TestPayloadFormat2(t *testing.T) {
	event := `{"version":"2.0","routeKey":"$default","rawPath":"/","rawQueryString":"","headers":{"host":"abc123.execute-api.eu-west-1.amazonaws.com"},
		"requestContext":{"apiId":"abc123","domainName":"abc123.execute-api.eu-west-1.amazonaws.com","http":{"method":"GET","path":"/","protocol":"HTTP/1.1","sourceIp":"192.0.2.1","userAgent":"curl/8"},
		"requestId":"id","routeKey":"$default","stage":"$default","time":"29/Nov/2026:23:00:00 +0000","timeEpoch":1795993200000},"isBase64Encoded":false}`
	var req events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal([]byte(event), &req); err != nil {
		t.Fatal(err)
	}
	res, err := newHandler(config{stage: "prod", version: "9"}).handle(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.Marshal(res)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"statusCode":200`, `"X-Version":"9"`, `hello from prod`} {
		if !strings.Contains(string(out), want) {
			t.Errorf("answer %s lacks %s", out, want)
		}
	}
}
