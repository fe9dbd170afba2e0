// Package api is the HTTP API of a running engine (`sluice up`, and `sluice run` while it runs):
// the CLI uses it when an engine serves the state directory, and scripts may too. Every route but
// /healthz and /metrics needs the bearer token kept in the state directory, and every route
// answers only requests whose Host names the API's own address (see Server.Addr).
//
//	GET  /api/v1/status?pipeline=P               executions, environments, pending approvals
//	GET  /api/v1/pipelines                       every pipeline of the route, with its last
//	                                             execution and environments
//	GET  /api/v1/executions?prefix=P&limit=N     executions whose ID begins with P, newest first
//	POST /api/v1/executions        {"rev":"..","resume":true,"pipeline":".."}  run rev: with resume,
//	                                             follow its execution if it has one; without, or in
//	                                             a named pipeline, start a new one
//	GET  /api/v1/executions/{id}                 its snapshot (the run --json summary)
//	GET  /api/v1/executions/{id}/logs?after=CURSOR&action=A&tail=N  what its actions printed
//	GET  /api/v1/changesets/{digest}             a change set
//	GET  /api/v1/notifications?limit=N           the notification outbox, newest first
//	POST /api/v1/executions/{id}/stop|retry      {"user":".."}  stop answers the stopped execution
//	POST /api/v1/environments/{env}/approve|reject  {"user":"..","comment":"..","change_set":"sha256:..","pipeline":".."}
//	GET  /api/v1/environments/{env}/history?pipeline=P  its deployments and approvals
//	GET  /api/v1/identity?challenge=HEX          HMAC-SHA256(token, challenge): proves the engine
//	                                             knows the token without anyone sending it
//	POST /api/v1/environments/{env}/rollback|freeze|unfreeze  {"user":"..","comment":"..","pipeline":".."}
//	GET  /api/v1/environments/{env}/log?version=V&offset=N&pipeline=P  what a version printed
//	GET  /metrics                                Prometheus text
package api

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/store"
)

// Engine is what the API needs of the engine.
type Engine interface {
	Deliveries(ctx context.Context, limit int) ([]sluice.Delivery, error)
	Run(ctx context.Context, rev string) (*sluice.Execution, error)
	RunOrResume(ctx context.Context, rev string) (*sluice.Execution, bool, error)
	Stop(ctx context.Context, id, who string) (*sluice.Execution, error)
	Retry(ctx context.Context, id string) (*sluice.Execution, error)
	Decide(ctx context.Context, d engine.Decision) (*sluice.Approval, error)
	Freeze(ctx context.Context, pipeline, env string, frozen bool, reason string) error
	Rollback(ctx context.Context, pipeline, env, user, comment string) (*sluice.Deployment, error)
	Execution(ctx context.Context, id string) (*engine.Snapshot, error)
	Executions(ctx context.Context, prefix string, limit int) ([]sluice.Execution, error)
	Logs(ctx context.Context, q engine.LogQuery) (*engine.LogPage, error)
	VersionLog(ctx context.Context, q engine.VersionLogQuery) (*engine.VersionLogPage, error)
	Pipelines(ctx context.Context) ([]engine.PipelineView, error)
	ChangeSet(ctx context.Context, digest string) (*sluice.ChangeSet, error)
	Store() store.Store
	Status(ctx context.Context, pipeline string) (*engine.Status, error)
	History(ctx context.Context, pipeline, env string) (*engine.History, error)
	RunIn(ctx context.Context, pipeline, rev string) (*sluice.Execution, error)
	PendingChangeSet(ctx context.Context, env string) (*sluice.ChangeSet, error)
}

// ExecutionList is the answer of GET /api/v1/executions.
type ExecutionList struct {
	Executions []sluice.Execution `json:"executions"`
}

// DeliveryList is the answer of GET /api/v1/notifications.
type DeliveryList struct {
	Deliveries []sluice.Delivery `json:"deliveries"`
}

// PipelineList is the answer of GET /api/v1/pipelines.
type PipelineList struct {
	Pipelines []engine.PipelineView `json:"pipelines"`
}

// Server serves the API.
type Server struct {
	Engine Engine
	// Token is what every /api/ request must send as "Authorization: Bearer TOKEN". If empty,
	// every /api/ request is refused.
	Token string
	// Addr is the host:port the API listens on. A request must name it, or the same port on
	// localhost or a loopback address, in its Host header (when Addr is 0.0.0.0 or [::], any
	// address at that port); any other Host is answered 421, so a web page that rebinds its own
	// DNS name to 127.0.0.1 cannot read the API or /metrics. If empty, any port of localhost or
	// a loopback address is accepted.
	Addr string
	// Metrics writes the Prometheus text of GET /metrics, which needs no token (scrapers send
	// none). If nil, /metrics answers 404: the metrics are off.
	Metrics func(io.Writer) error
}

// RunResult is the answer of POST /api/v1/executions.
type RunResult struct {
	Execution *sluice.Execution `json:"execution"`
	// Resumed is true when an unfinished execution of the revision was found and followed
	// instead of starting another (the request asked for it with "resume": true).
	Resumed bool `json:"resumed"`
}

// Status is what GET /api/v1/status answers.
type Status = engine.Status

// StoredEvent is a stored event as GET /api/v1/events answers it: the CloudEvents attributes
// with the store's sequence number as the extension attribute "seq".
type StoredEvent struct {
	Seq int64 `json:"seq"`
	sluice.Event
}

// EventPage is the answer of GET /api/v1/events: the events after the asked Seq, oldest first,
// and Next, the Seq to ask after next time (the last event's, or the one asked when there is
// none yet).
type EventPage struct {
	Events []StoredEvent `json:"events"`
	Next   int64         `json:"next"`
}

// Event pages: how many events one answer holds unless ?limit= says fewer.
const (
	defaultEventPage = 100
	maxEventPage     = 1000
)

// events answers GET /api/v1/events?after=N&limit=M.
func (s *Server) events(r *http.Request) (any, error) {
	q := r.URL.Query()
	after, err := queryInt(q.Get("after"), 0)
	if err != nil || after < 0 {
		return nil, sluice.Errorf(sluice.EINVALID, "after=%q is not a Seq; send the next of your last page, or 0 to read from the start", q.Get("after"))
	}
	limit, err := queryInt(q.Get("limit"), defaultEventPage)
	if err != nil || limit < 1 || limit > maxEventPage {
		return nil, sluice.Errorf(sluice.EINVALID, "limit=%q is not a page size; send 1 to %d (default %d)", q.Get("limit"), maxEventPage, defaultEventPage)
	}
	list, err := s.Engine.Store().ListEvents(r.Context(), after, int(limit))
	if err != nil {
		return nil, err
	}
	page := EventPage{Events: make([]StoredEvent, 0, len(list)), Next: after}
	for _, ev := range list {
		page.Events = append(page.Events, StoredEvent{Seq: ev.Seq, Event: ev})
		page.Next = ev.Seq
	}
	return page, nil
}

// queryInt reads a query parameter as an integer; empty is def.
func queryInt(v string, def int64) (int64, error) {
	if v == "" {
		return def, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

// Handler returns the API's routes, behind the check of the Host header.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /metrics", func(w http.ResponseWriter, r *http.Request) {
		if s.Metrics == nil {
			writeJSON(w, http.StatusNotFound, ErrorBody{Error: "metrics are off on this engine; start it without --metrics=false to serve them", Code: sluice.ENOTFOUND})
			return
		}
		w.Header().Set("Content-Type", "text/plain; version=0.0.4")
		_ = s.Metrics(w)
	})
	mux.HandleFunc("GET /api/v1/identity", func(w http.ResponseWriter, r *http.Request) {
		challenge := r.URL.Query().Get("challenge")
		if len(challenge) < 32 || len(challenge) > 128 || s.Token == "" {
			writeJSON(w, http.StatusBadRequest, ErrorBody{Error: "send ?challenge= with 32 to 128 random characters", Code: sluice.EINVALID})
			return
		}
		writeJSON(w, http.StatusOK, map[string]string{"proof": Proof(s.Token, challenge)})
	})
	mux.HandleFunc("GET /api/v1/status", s.auth(func(r *http.Request) (any, error) {
		return s.Engine.Status(r.Context(), r.URL.Query().Get("pipeline"))
	}))
	mux.HandleFunc("GET /api/v1/environments/{env}/history", s.auth(func(r *http.Request) (any, error) {
		return s.Engine.History(r.Context(), r.URL.Query().Get("pipeline"), r.PathValue("env"))
	}))
	mux.HandleFunc("GET /api/v1/environments/{env}/changeset", s.auth(func(r *http.Request) (any, error) {
		return s.Engine.PendingChangeSet(r.Context(), r.PathValue("env"))
	}))
	mux.HandleFunc("POST /api/v1/executions", s.auth(func(r *http.Request) (any, error) {
		var body struct {
			Rev      string `json:"rev"`
			Resume   bool   `json:"resume"`
			Pipeline string `json:"pipeline"`
		}
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		if body.Pipeline != "" {
			ex, err := s.Engine.RunIn(r.Context(), body.Pipeline, body.Rev)
			return RunResult{Execution: ex}, err
		}
		if body.Resume {
			ex, resumed, err := s.Engine.RunOrResume(r.Context(), body.Rev)
			return RunResult{Execution: ex, Resumed: resumed}, err
		}
		ex, err := s.Engine.Run(r.Context(), body.Rev)
		return RunResult{Execution: ex}, err
	}))
	mux.HandleFunc("GET /api/v1/executions", s.auth(func(r *http.Request) (any, error) {
		limit, err := queryInt(r.URL.Query().Get("limit"), 0)
		if err != nil || limit < 0 {
			return nil, sluice.Errorf(sluice.EINVALID, "limit=%q is not a number of executions; send 1 or more, or none for all", r.URL.Query().Get("limit"))
		}
		list, err := s.Engine.Executions(r.Context(), r.URL.Query().Get("prefix"), int(limit))
		if list == nil {
			list = []sluice.Execution{}
		}
		return ExecutionList{Executions: list}, err
	}))
	mux.HandleFunc("GET /api/v1/executions/{id}", s.auth(func(r *http.Request) (any, error) {
		return s.Engine.Execution(r.Context(), r.PathValue("id"))
	}))
	mux.HandleFunc("GET /api/v1/executions/{id}/logs", s.auth(func(r *http.Request) (any, error) {
		q := r.URL.Query()
		tail, err := queryInt(q.Get("tail"), 0)
		if err != nil || tail < 0 {
			return nil, sluice.Errorf(sluice.EINVALID, "tail=%q is not a number of bytes; send 1 or more, or none for whole logs", q.Get("tail"))
		}
		return s.Engine.Logs(r.Context(), engine.LogQuery{Execution: r.PathValue("id"), Action: q.Get("action"), After: q.Get("after"), Tail: tail})
	}))
	mux.HandleFunc("GET /api/v1/environments/{env}/log", s.auth(func(r *http.Request) (any, error) {
		q := r.URL.Query()
		offset, err := queryInt(q.Get("offset"), 0)
		if err != nil || offset < 0 {
			return nil, sluice.Errorf(sluice.EINVALID, "offset=%q is not a place in a log; send the next of the last page, or 0", q.Get("offset"))
		}
		return s.Engine.VersionLog(r.Context(), engine.VersionLogQuery{Pipeline: q.Get("pipeline"), Environment: r.PathValue("env"), Version: q.Get("version"), Offset: offset})
	}))
	mux.HandleFunc("GET /api/v1/pipelines", s.auth(func(r *http.Request) (any, error) {
		list, err := s.Engine.Pipelines(r.Context())
		if list == nil {
			list = []engine.PipelineView{}
		}
		return PipelineList{Pipelines: list}, err
	}))
	mux.HandleFunc("GET /api/v1/events", s.auth(s.events))
	mux.HandleFunc("GET /api/v1/notifications", s.auth(func(r *http.Request) (any, error) {
		limit, err := queryInt(r.URL.Query().Get("limit"), 0)
		if err != nil || limit < 0 {
			return nil, sluice.Errorf(sluice.EINVALID, "limit=%q is not a number of deliveries; send 1 or more, or none for all", r.URL.Query().Get("limit"))
		}
		list, err := s.Engine.Deliveries(r.Context(), int(limit))
		if list == nil {
			list = []sluice.Delivery{}
		}
		return DeliveryList{Deliveries: list}, err
	}))
	mux.HandleFunc("GET /api/v1/changesets/{digest}", s.auth(func(r *http.Request) (any, error) {
		return s.Engine.ChangeSet(r.Context(), r.PathValue("digest"))
	}))
	mux.HandleFunc("POST /api/v1/executions/{id}/{op}", s.auth(func(r *http.Request) (any, error) {
		id := r.PathValue("id")
		var body struct {
			User string `json:"user"`
		}
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		switch r.PathValue("op") {
		case "stop":
			return s.Engine.Stop(r.Context(), id, body.User)
		case "retry":
			return s.Engine.Retry(r.Context(), id)
		}
		return nil, sluice.Errorf(sluice.ENOTFOUND, "unknown operation %q; use stop or retry", r.PathValue("op"))
	}))
	mux.HandleFunc("POST /api/v1/environments/{env}/{op}", s.auth(func(r *http.Request) (any, error) {
		env := r.PathValue("env")
		var body struct {
			User      string `json:"user"`
			Comment   string `json:"comment"`
			ChangeSet string `json:"change_set"`
			Pipeline  string `json:"pipeline"`
		}
		if err := decode(r, &body); err != nil {
			return nil, err
		}
		switch op := r.PathValue("op"); op {
		case "approve", "reject":
			return s.Engine.Decide(r.Context(), engine.Decision{Pipeline: body.Pipeline, Environment: env, ChangeSet: body.ChangeSet, Approve: op == "approve", User: body.User, Comment: body.Comment})
		case "rollback":
			return s.Engine.Rollback(r.Context(), body.Pipeline, env, body.User, body.Comment)
		case "freeze", "unfreeze":
			return map[string]any{"environment": env, "frozen": op == "freeze"}, s.Engine.Freeze(r.Context(), body.Pipeline, env, op == "freeze", body.Comment)
		}
		return nil, sluice.Errorf(sluice.ENOTFOUND, "unknown operation %q; use approve, reject, rollback, freeze or unfreeze", r.PathValue("op"))
	}))
	return s.checkHost(mux)
}

// Proof is what an engine answers to an identity challenge: HMAC-SHA256 of the challenge keyed
// with the API token, in hex. Only a process that knows the token can compute it, so a client
// checks who listens on an address before it sends the token there.
func Proof(token, challenge string) string {
	mac := hmac.New(sha256.New, []byte(token))
	mac.Write([]byte("sluice identity:" + challenge))
	return hex.EncodeToString(mac.Sum(nil))
}

// statuses maps error codes to HTTP statuses.
var statuses = map[string]int{
	sluice.EINVALID:      http.StatusBadRequest,
	sluice.ENOTFOUND:     http.StatusNotFound,
	sluice.ECONFLICT:     http.StatusConflict,
	sluice.EUNAUTHORIZED: http.StatusForbidden,
	sluice.ECORRUPT:      http.StatusUnprocessableEntity,
	sluice.ETIMEOUT:      http.StatusGatewayTimeout,
}

// ErrorBody is the JSON of every error answer.
type ErrorBody struct {
	Error string `json:"error"`
	Code  string `json:"code"`
}

// checkHost refuses requests whose Host header names another server than this one: a browser
// sends the page's own name, so a page whose DNS name now points at 127.0.0.1 is refused.
func (s *Server) checkHost(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !s.hostAllowed(r.Host) {
			writeJSON(w, http.StatusMisdirectedRequest, ErrorBody{
				Error: fmt.Sprintf("this is the Sluice API at %s; Host %q names another server; call it as http://%s", s.addrOrLoopback(), r.Host, s.addrOrLoopback()),
				Code:  sluice.EUNAUTHORIZED,
			})
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hostAllowed reports whether host (a Host header) names this server: localhost or a loopback
// address, or the address it listens on, at its port. Other names are refused.
func (s *Server) hostAllowed(host string) bool {
	name, port, err := net.SplitHostPort(host)
	if err != nil {
		// No port: HTTP's default.
		name, port = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]"), "80"
	}
	wantName, wantPort := "", ""
	if s.Addr != "" {
		if wantName, wantPort, err = net.SplitHostPort(s.Addr); err != nil {
			return false
		}
		if port != wantPort {
			return false
		}
	}
	if strings.EqualFold(name, "localhost") {
		return true
	}
	ip, err := netip.ParseAddr(name)
	if err != nil {
		return false
	}
	if ip.IsLoopback() {
		return true
	}
	// DNS rebinding needs a name, so an address is safe to accept when it is the one listened
	// on, or any address when the API listens on all of them (0.0.0.0 or [::]).
	listen, err := netip.ParseAddr(wantName)
	return err == nil && (listen.IsUnspecified() || ip.Unmap() == listen.Unmap())
}

func (s *Server) addrOrLoopback() string {
	if s.Addr != "" {
		return s.Addr
	}
	return "127.0.0.1"
}

// bearer returns the credentials of an "Authorization: Bearer TOKEN" header. The scheme is
// required: a bare token is not accepted, so a token pasted into another header form is not
// taken for one.
func bearer(header string) (string, bool) {
	scheme, credentials, ok := strings.Cut(header, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || credentials == "" {
		return "", false
	}
	return credentials, true
}

func (s *Server) auth(h func(*http.Request) (any, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		got, ok := bearer(r.Header.Get("Authorization"))
		if !ok || s.Token == "" || subtle.ConstantTimeCompare([]byte(got), []byte(s.Token)) != 1 {
			writeJSON(w, http.StatusUnauthorized, ErrorBody{Error: "missing or wrong token; send Authorization: Bearer <the token in the state directory's token file>", Code: sluice.EUNAUTHORIZED})
			return
		}
		v, err := h(r)
		if err != nil {
			code := sluice.ErrorCode(err)
			status, ok := statuses[code]
			if !ok {
				status = http.StatusInternalServerError
			}
			writeJSON(w, status, ErrorBody{Error: err.Error(), Code: code})
			return
		}
		writeJSON(w, http.StatusOK, v)
	}
}

func decode(r *http.Request, v any) error {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		return sluice.Errorf(sluice.EINVALID, "read request body: %w", err)
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return sluice.Errorf(sluice.EINVALID, "request body is not the expected JSON: %w", err)
	}
	return nil
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	if err := json.NewEncoder(w).Encode(v); err != nil && !errors.Is(err, http.ErrHandlerTimeout) {
		return
	}
}
