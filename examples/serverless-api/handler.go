package main

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"

	"github.com/aws/aws-lambda-go/events"
)

// config is what the function learns from its environment.
type config struct {
	stage    string // STAGE; "local" when unset
	version  string // the Lambda version running; "local" outside Lambda
	artifact string // the Sluice artifact's digest; "" when the template does not pass it
	// breakProd makes / fail in the prod stage; see deliberatelyBreakProd.
	breakProd bool
}

func configFromEnv(getenv func(string) string) config {
	cfg := config{
		stage:     getenv("STAGE"),
		version:   getenv("AWS_LAMBDA_FUNCTION_VERSION"),
		artifact:  getenv("ARTIFACT_DIGEST"),
		breakProd: deliberatelyBreakProd,
	}
	if cfg.stage == "" {
		cfg.stage = "local"
	}
	if cfg.version == "" {
		cfg.version = "local"
	}
	return cfg
}

// greeting is the body of GET /.
type greeting struct {
	Message  string `json:"message"`
	Stage    string `json:"stage"`
	Version  string `json:"version"`
	Artifact string `json:"artifact,omitempty"`
}

// errBrokenProd is what the deliberately broken version returns: a function error, which
// Lambda counts in its Errors metric and the HTTP API turns into a 500.
var errBrokenProd = errors.New("deliberately broken in prod (breakprod.go)")

type handler struct{ cfg config }

func newHandler(cfg config) *handler { return &handler{cfg: cfg} }

// handle answers one HTTP API request (payload format 2.0).
func (h *handler) handle(ctx context.Context, req events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	path := req.RawPath
	if path == "" {
		path = req.RequestContext.HTTP.Path
	}
	method := req.RequestContext.HTTP.Method
	switch path {
	case "/", "":
		if method != http.MethodGet {
			return h.text(http.StatusMethodNotAllowed, "method not allowed; use GET\n", "Allow", http.MethodGet), nil
		}
		if h.cfg.breakProd && h.cfg.stage == "prod" {
			return events.APIGatewayV2HTTPResponse{}, errBrokenProd
		}
		body, err := json.Marshal(greeting{Message: "hello from " + h.cfg.stage, Stage: h.cfg.stage, Version: h.cfg.version, Artifact: h.cfg.artifact})
		if err != nil {
			return events.APIGatewayV2HTTPResponse{}, err
		}
		res := h.text(http.StatusOK, string(body)+"\n")
		res.Headers["Content-Type"] = "application/json"
		return res, nil
	case "/healthz":
		if method != http.MethodGet {
			return h.text(http.StatusMethodNotAllowed, "method not allowed; use GET\n", "Allow", http.MethodGet), nil
		}
		return h.text(http.StatusOK, "ok\n"), nil
	}
	return h.text(http.StatusNotFound, "not found: "+path+"\n"), nil
}

// text is a plain-text answer with the X-Version header, plus the header pairs given.
func (h *handler) text(status int, body string, header ...string) events.APIGatewayV2HTTPResponse {
	headers := map[string]string{"Content-Type": "text/plain; charset=utf-8", "X-Version": h.cfg.version}
	for i := 0; i+1 < len(header); i += 2 {
		headers[header[i]] = header[i+1]
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: status, Headers: headers, Body: body}
}
