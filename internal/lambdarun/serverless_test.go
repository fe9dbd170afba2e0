package lambdarun

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestServerlessExample runs the bundled serverless route's function (examples/serverless-api)
// as the fake AWS does: its bootstrap built as the route builds it, invoked with HTTP API
// events. With breakprod.go switched on, prod's requests for / fail as function errors (what
// Lambda's Errors metric counts and the HTTP API answers with 500) while dev's succeed.
func TestServerlessExample(t *testing.T) {
	code := serverlessCode(t)
	tests := []struct {
		code, stage, method, path string
		status                    int
		body                      string // in the answer's body, or in the error message when status is 0
	}{
		{"fixed", "dev", "GET", "/", 200, `{"message":"hello from dev","stage":"dev","version":"5","artifact":"sha256:0123"}`},
		{"fixed", "prod", "GET", "/", 200, `"message":"hello from prod"`},
		{"fixed", "prod", "GET", "/healthz", 200, "ok"},
		{"fixed", "prod", "GET", "/missing", 404, "not found: /missing"},
		{"broken", "dev", "GET", "/", 200, `"message":"hello from dev"`},
		{"broken", "prod", "GET", "/healthz", 200, "ok"},
		{"broken", "prod", "GET", "/", 0, "deliberately broken in prod"},
	}
	functions := map[string]*Function{}
	for _, tt := range tests {
		if functions[tt.code+tt.stage] == nil {
			functions[tt.code+tt.stage] = startServerless(t, code[tt.code], tt.stage)
		}
	}
	for _, tt := range tests {
		t.Run(tt.code+" "+tt.stage+" "+tt.method+" "+tt.path, func(t *testing.T) {
			res := invoke(t, functions[tt.code+tt.stage], apiGatewayEvent(tt.method, tt.path))
			if tt.status == 0 {
				if fe := failed(t, res); !strings.Contains(fe.Message, tt.body) {
					t.Errorf("error %+v, want %q", fe, tt.body)
				}
				return
			}
			if res.FunctionError != "" {
				t.Fatalf("failed: %s", res.Payload)
			}
			var answer struct {
				StatusCode int               `json:"statusCode"`
				Headers    map[string]string `json:"headers"`
				Body       string            `json:"body"`
			}
			if err := json.Unmarshal(res.Payload, &answer); err != nil {
				t.Fatalf("answer %s: %v", res.Payload, err)
			}
			if answer.StatusCode != tt.status || !strings.Contains(answer.Body, tt.body) || answer.Headers["X-Version"] != "5" {
				t.Errorf("answer %d %q %v, want %d with %q and X-Version 5", answer.StatusCode, answer.Body, answer.Headers, tt.status, tt.body)
			}
		})
	}
}

// apiGatewayEvent is an API Gateway HTTP API request, payload format 2.0, as Lambda receives it.
func apiGatewayEvent(method, path string) map[string]any {
	return map[string]any{
		"version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": "",
		"headers": map[string]string{"host": "abc123.execute-api.eu-west-1.amazonaws.com"},
		"requestContext": map[string]any{
			"apiId": "abc123", "stage": "$default", "requestId": "r1", "routeKey": "$default",
			"timeEpoch": time.Now().UnixMilli(),
			"http":      map[string]string{"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": "127.0.0.1"},
		},
		"isBase64Encoded": false,
	}
}

// serverlessDir is the bundled serverless route's source.
var serverlessDir = filepath.Join("..", "..", "examples", "serverless-api")

var serverlessZips struct {
	sync.Mutex
	code map[string][]byte
}

// serverlessCode returns the bundled serverless route's function zipped as the route deploys
// it: "fixed" as it is, "broken" with breakprod.go switched on as `sluice demo --break-prod`
// does.
func serverlessCode(t *testing.T) map[string][]byte {
	t.Helper()
	serverlessZips.Lock()
	defer serverlessZips.Unlock()
	if serverlessZips.code != nil {
		return serverlessZips.code
	}
	broken, err := os.MkdirTemp("", "serverless-api-broken-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(broken)
	if err := os.CopyFS(broken, os.DirFS(serverlessDir)); err != nil {
		t.Fatal(err)
	}
	flag := filepath.Join(broken, "breakprod.go")
	text := string(readFile(t, flag))
	if !strings.Contains(text, "const deliberatelyBreakProd = false") {
		t.Fatalf("breakprod.go lacks the line the demo flips:\n%s", text)
	}
	if err := os.WriteFile(flag, []byte(strings.Replace(text, "= false", "= true", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	serverlessZips.code = map[string][]byte{
		"fixed":  zipOf(t, entry{name: "bootstrap", data: readFile(t, build(t, serverlessDir, ".")), mode: 0o755}),
		"broken": zipOf(t, entry{name: "bootstrap", data: readFile(t, build(t, broken, ".")), mode: 0o755}),
	}
	return serverlessZips.code
}

// startServerless starts the route's function as the stage's stack configures it.
func startServerless(t *testing.T, code []byte, stage string) *Function {
	return start(t, Config{Code: code, FunctionName: "serverless-api-" + stage, Version: "5",
		Env: map[string]string{"STAGE": stage, "ARTIFACT_DIGEST": "sha256:0123"}})
}
