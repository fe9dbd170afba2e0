package lambdarun

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"testing"
)

// TestHTTPAPIEvent: a request reaches the function as API Gateway's payload format 2.0 puts it,
// and a structured answer comes back with its status, headers, cookies and decoded body.
func TestHTTPAPIEvent(t *testing.T) {
	var mu sync.Mutex
	var got map[string]any
	api := &HTTPAPI{APIID: "abc123", Account: "444455556666", Invoke: func(ctx context.Context, payload []byte) (Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if err := json.Unmarshal(payload, &got); err != nil {
			t.Errorf("event %s: %v", payload, err)
		}
		answer := `{"statusCode":201,"headers":{"X-Answer":"yes"},"cookies":["s=1; Path=/"],"body":"` +
			base64.StdEncoding.EncodeToString([]byte{0, 1, 2}) + `","isBase64Encoded":true}`
		return Result{Payload: []byte(answer)}, nil
	}}
	srv := httptest.NewServer(api)
	defer srv.Close()
	req, _ := http.NewRequest("PUT", srv.URL+"/orders/7?q=1&q=2&r=x", strings.NewReader("\xff\xfe binary"))
	req.Header.Add("X-Multi", "a")
	req.Header.Add("X-Multi", "b")
	req.Header.Set("Cookie", "a=1; b=2")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 201 || res.Header.Get("X-Answer") != "yes" || res.Header.Get("Set-Cookie") != "s=1; Path=/" || string(body) != "\x00\x01\x02" || res.Header.Get("Apigw-Requestid") == "" {
		t.Errorf("answer %d %v %q", res.StatusCode, res.Header, body)
	}

	mu.Lock()
	defer mu.Unlock()
	ctx, _ := got["requestContext"].(map[string]any)
	httpCtx, _ := ctx["http"].(map[string]any)
	headers, _ := got["headers"].(map[string]any)
	query, _ := got["queryStringParameters"].(map[string]any)
	cookies, _ := got["cookies"].([]any)
	checks := []struct {
		what      string
		got, want any
	}{
		{"version", got["version"], "2.0"},
		{"routeKey", got["routeKey"], "$default"},
		{"rawPath", got["rawPath"], "/orders/7"},
		{"rawQueryString", got["rawQueryString"], "q=1&q=2&r=x"},
		{"query q", query["q"], "1,2"},
		{"header x-multi", headers["x-multi"], "a,b"},
		{"no cookie header", headers["cookie"], nil},
		{"cookies", len(cookies), 2},
		{"body", got["body"], base64.StdEncoding.EncodeToString([]byte("\xff\xfe binary"))},
		{"isBase64Encoded", got["isBase64Encoded"], true},
		{"method", httpCtx["method"], "PUT"},
		{"path", httpCtx["path"], "/orders/7"},
		{"sourceIp", httpCtx["sourceIp"], "127.0.0.1"},
		{"apiId", ctx["apiId"], "abc123"},
		{"accountId", ctx["accountId"], "444455556666"},
		{"stage", ctx["stage"], "$default"},
		{"requestId", ctx["requestId"], res.Header.Get("Apigw-Requestid")},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: %#v, want %#v", c.what, c.got, c.want)
		}
	}
}

// TestHTTPAPIAnswers: what API Gateway makes of each kind of answer, and of failures.
func TestHTTPAPIAnswers(t *testing.T) {
	tests := []struct {
		name    string
		result  Result
		err     error
		status  int
		body    string
		ctype   string
		headers map[string]string
	}{
		{"plain JSON is the body", Result{Payload: []byte(`{"a":1}`)}, nil, 200, `{"a":1}`, "application/json", nil},
		{"a JSON string is the body", Result{Payload: []byte(`"text"`)}, nil, 200, `"text"`, "application/json", nil},
		{"structured", Result{Payload: []byte(`{"statusCode":404,"headers":{"Content-Type":"text/plain"},"body":"no"}`)}, nil, 404, "no", "text/plain", nil},
		{"not JSON", Result{Payload: []byte(`not json`)}, nil, 500, `{"message":"Internal Server Error"}`, "application/json", nil},
		{"status out of range", Result{Payload: []byte(`{"statusCode":999}`)}, nil, 500, `{"message":"Internal Server Error"}`, "application/json", nil},
		{"bad base64", Result{Payload: []byte(`{"statusCode":200,"body":"%%","isBase64Encoded":true}`)}, nil, 500, `{"message":"Internal Server Error"}`, "application/json", nil},
		{"function error", Result{FunctionError: "Unhandled", Payload: []byte(`{"errorMessage":"x"}`)}, nil, 500, `{"message":"Internal Server Error"}`, "application/json", nil},
		{"invocation failed", Result{}, ErrClosed, 503, `{"message":"Service Unavailable"}`, "application/json", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &HTTPAPI{Invoke: func(context.Context, []byte) (Result, error) { return tt.result, tt.err }}
			rec := httptest.NewRecorder()
			api.ServeHTTP(rec, httptest.NewRequest("GET", "/", nil))
			if rec.Code != tt.status || rec.Body.String() != tt.body || rec.Header().Get("Content-Type") != tt.ctype {
				t.Errorf("got %d %q (%s), want %d %q (%s)", rec.Code, rec.Body.String(), rec.Header().Get("Content-Type"), tt.status, tt.body, tt.ctype)
			}
		})
	}
	t.Run("request too large", func(t *testing.T) {
		called := false
		api := &HTTPAPI{Invoke: func(context.Context, []byte) (Result, error) { called = true; return Result{}, nil }}
		rec := httptest.NewRecorder()
		api.ServeHTTP(rec, httptest.NewRequest("POST", "/", strings.NewReader(strings.Repeat("x", maxRequestBody+1))))
		if rec.Code != 413 || called {
			t.Errorf("got %d, invoked %v", rec.Code, called)
		}
	})
}

// TestHTTPAPIServerlessExample serves the bundled serverless route's real function over HTTP, as
// `sluice demo --aws` does: dev passes the route's own integration tests, and with prod
// deliberately broken, / answers 500 while /healthz still answers.
func TestHTTPAPIServerlessExample(t *testing.T) {
	code := serverlessCode(t)
	dev := httptest.NewServer(&HTTPAPI{Invoke: startServerless(t, code["fixed"], "dev").Invoke})
	defer dev.Close()
	prod := httptest.NewServer(&HTTPAPI{Invoke: startServerless(t, code["broken"], "prod").Invoke})
	defer prod.Close()

	cmd := exec.Command("go", "test", "-count=1", "./integration/...")
	cmd.Dir = serverlessDir
	cmd.Env = append(slices.Clone(os.Environ()), "GOWORK=off", "SLUICE_ENDPOINT="+dev.URL, "SLUICE_ENVIRONMENT=dev", "SLUICE_ARTIFACT=sha256:0123")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("the route's integration tests against dev: %v\n%s", err, out)
	}

	for _, c := range []struct {
		path   string
		status int
		body   string
	}{
		{"/", 500, `{"message":"Internal Server Error"}`},
		{"/healthz", 200, "ok\n"},
	} {
		res, err := http.Get(prod.URL + c.path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.status || string(body) != c.body {
			t.Errorf("prod GET %s: %d %q, want %d %q", c.path, res.StatusCode, body, c.status, c.body)
		}
	}
}
