package api

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/engine"
)

// Client calls a running engine's API.
type Client struct {
	Base  string // http://127.0.0.1:7373
	Token string
	HTTP  *http.Client // if nil, one with a 30s timeout
}

func (c *Client) do(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.Base+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	hc := c.HTTP
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	resp, err := hc.Do(req)
	if err != nil {
		return fmt.Errorf("reach the engine at %s: %w", c.Base, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("read the engine's answer: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var eb ErrorBody
		if json.Unmarshal(data, &eb) == nil && eb.Error != "" {
			return &sluice.Error{Code: eb.Code, Message: eb.Error, Terminal: true}
		}
		return fmt.Errorf("the engine answered %s", resp.Status)
	}
	if out != nil {
		return json.Unmarshal(data, out)
	}
	return nil
}

// Ping reports whether the engine answers and proves it knows the token (see Proof), without
// sending the token: whatever listens on Base now may be another process, after the engine that
// wrote its address was killed.
func (c *Client) Ping(ctx context.Context) bool {
	var raw [24]byte
	_, _ = rand.Read(raw[:])
	challenge := hex.EncodeToString(raw[:])
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.Base+"/api/v1/identity?challenge="+challenge, nil)
	if err != nil {
		return false
	}
	resp, err := (&http.Client{Timeout: 2 * time.Second}).Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	var answer struct {
		Proof string `json:"proof"`
	}
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 4096)).Decode(&answer) != nil {
		return false
	}
	return hmac.Equal([]byte(answer.Proof), []byte(Proof(c.Token, challenge)))
}

// Run starts a new execution of rev (empty: the head of source.branch), even if the revision
// ran before.
func (c *Client) Run(ctx context.Context, rev string) (*sluice.Execution, error) {
	var res RunResult
	if err := c.do(ctx, http.MethodPost, "/api/v1/executions", map[string]any{"rev": rev, "resume": false}, &res); err != nil {
		return nil, err
	}
	return res.Execution, nil
}

// RunIn starts a new execution of rev in pipeline (empty rev: the head of its branch).
func (c *Client) RunIn(ctx context.Context, pipeline, rev string) (*sluice.Execution, error) {
	var res RunResult
	if err := c.do(ctx, http.MethodPost, "/api/v1/executions", map[string]any{"rev": rev, "pipeline": pipeline}, &res); err != nil {
		return nil, err
	}
	return res.Execution, nil
}

// pipelineQuery is the query naming pipeline, or "" for the main one.
func pipelineQuery(pipeline string) string {
	if pipeline == "" {
		return ""
	}
	return "?pipeline=" + url.QueryEscape(pipeline)
}

// RunOrResume follows the newest execution of rev when there is one (resumed is true; it may
// have ended), and starts one otherwise.
func (c *Client) RunOrResume(ctx context.Context, rev string) (ex *sluice.Execution, resumed bool, err error) {
	var res RunResult
	if err := c.do(ctx, http.MethodPost, "/api/v1/executions", map[string]any{"rev": rev, "resume": true}, &res); err != nil {
		return nil, false, err
	}
	return res.Execution, res.Resumed, nil
}

// Executions returns the executions whose ID begins with prefix (all if ""), newest first, at
// most limit (all if limit <= 0).
func (c *Client) Executions(ctx context.Context, prefix string, limit int) ([]sluice.Execution, error) {
	q := url.Values{}
	if prefix != "" {
		q.Set("prefix", prefix)
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	var list ExecutionList
	if err := c.do(ctx, http.MethodGet, "/api/v1/executions?"+q.Encode(), nil, &list); err != nil {
		return nil, err
	}
	return list.Executions, nil
}

// Logs returns what an execution's actions printed after q.After.
func (c *Client) Logs(ctx context.Context, q engine.LogQuery) (*engine.LogPage, error) {
	v := url.Values{}
	for key, value := range map[string]string{"after": q.After, "action": q.Action} {
		if value != "" {
			v.Set(key, value)
		}
	}
	if q.Tail > 0 {
		v.Set("tail", strconv.FormatInt(q.Tail, 10))
	}
	var page engine.LogPage
	if err := c.do(ctx, http.MethodGet, "/api/v1/executions/"+url.PathEscape(q.Execution)+"/logs?"+v.Encode(), nil, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// VersionLog returns what a version of an environment printed from q.Offset on.
func (c *Client) VersionLog(ctx context.Context, q engine.VersionLogQuery) (*engine.VersionLogPage, error) {
	v := url.Values{}
	for key, value := range map[string]string{"pipeline": q.Pipeline, "version": q.Version} {
		if value != "" {
			v.Set(key, value)
		}
	}
	v.Set("offset", strconv.FormatInt(q.Offset, 10))
	var page engine.VersionLogPage
	if err := c.do(ctx, http.MethodGet, "/api/v1/environments/"+url.PathEscape(q.Environment)+"/log?"+v.Encode(), nil, &page); err != nil {
		return nil, err
	}
	return &page, nil
}

// Deliveries returns the notification outbox's deliveries, newest first, at most limit (<= 0:
// all).
func (c *Client) Deliveries(ctx context.Context, limit int) ([]sluice.Delivery, error) {
	var list DeliveryList
	if err := c.do(ctx, http.MethodGet, fmt.Sprintf("/api/v1/notifications?limit=%d", max(limit, 0)), nil, &list); err != nil {
		return nil, err
	}
	return list.Deliveries, nil
}

// Pipelines returns every pipeline, main pipelines first.
func (c *Client) Pipelines(ctx context.Context) ([]engine.PipelineView, error) {
	var list PipelineList
	if err := c.do(ctx, http.MethodGet, "/api/v1/pipelines", nil, &list); err != nil {
		return nil, err
	}
	return list.Pipelines, nil
}

// Execution returns an execution's snapshot.
func (c *Client) Execution(ctx context.Context, id string) (*engine.Snapshot, error) {
	var s engine.Snapshot
	return &s, c.do(ctx, http.MethodGet, "/api/v1/executions/"+id, nil, &s)
}

// Status returns the newest executions and the environments of pipeline ("": the main one).
func (c *Client) Status(ctx context.Context, pipeline string) (*engine.Status, error) {
	var s engine.Status
	if err := c.do(ctx, http.MethodGet, "/api/v1/status"+pipelineQuery(pipeline), nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// History returns the deployments and approvals of env in pipeline ("": the main one), newest
// first.
func (c *Client) History(ctx context.Context, pipeline, env string) (*engine.History, error) {
	var h engine.History
	if err := c.do(ctx, http.MethodGet, "/api/v1/environments/"+url.PathEscape(env)+"/history"+pipelineQuery(pipeline), nil, &h); err != nil {
		return nil, err
	}
	return &h, nil
}

// PendingChangeSet returns the change set waiting for approval in env; ENOTFOUND if none.
func (c *Client) PendingChangeSet(ctx context.Context, env string) (*sluice.ChangeSet, error) {
	var cs sluice.ChangeSet
	if err := c.do(ctx, http.MethodGet, "/api/v1/environments/"+url.PathEscape(env)+"/changeset", nil, &cs); err != nil {
		return nil, err
	}
	return &cs, nil
}

// Stop stops an execution as user and returns it as stopped.
func (c *Client) Stop(ctx context.Context, id, user string) (*sluice.Execution, error) {
	var ex sluice.Execution
	if err := c.do(ctx, http.MethodPost, "/api/v1/executions/"+url.PathEscape(id)+"/stop", map[string]string{"user": user}, &ex); err != nil {
		return nil, err
	}
	return &ex, nil
}

// Retry runs the failed stage of an execution that ended without succeeding again, and goes on
// from there; it returns the execution as retried.
func (c *Client) Retry(ctx context.Context, id string) (*sluice.Execution, error) {
	var ex sluice.Execution
	if err := c.do(ctx, http.MethodPost, "/api/v1/executions/"+url.PathEscape(id)+"/retry", map[string]string{}, &ex); err != nil {
		return nil, err
	}
	return &ex, nil
}

// Freeze holds executions before env of pipeline (the main pipeline if ""), or with frozen
// false lets them in again; reason is kept with it.
func (c *Client) Freeze(ctx context.Context, pipeline, env string, frozen bool, reason string) error {
	op := map[bool]string{true: "freeze", false: "unfreeze"}[frozen]
	return c.do(ctx, http.MethodPost, "/api/v1/environments/"+url.PathEscape(env)+"/"+op, map[string]string{"pipeline": pipeline, "comment": reason}, nil)
}

// Rollback puts the previous good version of env of pipeline (the main pipeline if "") back,
// as user asked for the reason in comment, and returns the deployment that did it.
func (c *Client) Rollback(ctx context.Context, pipeline, env, user, comment string) (*sluice.Deployment, error) {
	var d sluice.Deployment
	if err := c.do(ctx, http.MethodPost, "/api/v1/environments/"+url.PathEscape(env)+"/rollback", map[string]string{"pipeline": pipeline, "user": user, "comment": comment}, &d); err != nil {
		return nil, err
	}
	return &d, nil
}

// Decide approves or rejects the change set waiting in d.Environment.
func (c *Client) Decide(ctx context.Context, d engine.Decision) (*sluice.Approval, error) {
	op := "reject"
	if d.Approve {
		op = "approve"
	}
	var a sluice.Approval
	err := c.do(ctx, http.MethodPost, "/api/v1/environments/"+url.PathEscape(d.Environment)+"/"+op,
		map[string]string{"user": d.User, "comment": d.Comment, "change_set": d.ChangeSet, "pipeline": d.Pipeline}, &a)
	if err != nil {
		return nil, err
	}
	return &a, nil
}

// Events returns the stored events after Seq after, oldest first, at most limit (0: the
// server's default page), and the Seq to ask after next.
func (c *Client) Events(ctx context.Context, after int64, limit int) (*EventPage, error) {
	path := fmt.Sprintf("/api/v1/events?after=%d", after)
	if limit > 0 {
		path += fmt.Sprintf("&limit=%d", limit)
	}
	var page EventPage
	return &page, c.do(ctx, http.MethodGet, path, nil, &page)
}

// ChangeSet returns a change set by digest.
func (c *Client) ChangeSet(ctx context.Context, digest string) (*sluice.ChangeSet, error) {
	var cs sluice.ChangeSet
	return &cs, c.do(ctx, http.MethodGet, "/api/v1/changesets/"+digest, nil, &cs)
}
