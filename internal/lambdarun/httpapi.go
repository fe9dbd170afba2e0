package lambdarun

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// maxRequestBody is API Gateway's limit on a request's payload: 10 MB.
const maxRequestBody = 10 << 20

// HTTPAPI serves HTTP the way an API Gateway HTTP API does with one $default route and a Lambda
// proxy integration (payload format 2.0): each request becomes an event for Invoke, and the
// function's answer becomes the response. A function error answers 500, an invocation that
// could not run 503, as API Gateway answers them.
type HTTPAPI struct {
	// Invoke runs the integration: a *Function's Invoke, or a router choosing among a
	// function's versions by an alias's weights.
	Invoke func(ctx context.Context, payload []byte) (Result, error)
	// APIID is the API's id in the events. If empty, "local".
	APIID string
	// Account is the account in the events. If empty, 000000000000.
	Account string
}

// httpEvent is an HTTP API request, payload format 2.0.
type httpEvent struct {
	Version               string            `json:"version"`
	RouteKey              string            `json:"routeKey"`
	RawPath               string            `json:"rawPath"`
	RawQueryString        string            `json:"rawQueryString"`
	Cookies               []string          `json:"cookies,omitempty"`
	Headers               map[string]string `json:"headers"`
	QueryStringParameters map[string]string `json:"queryStringParameters,omitempty"`
	RequestContext        httpEventContext  `json:"requestContext"`
	Body                  string            `json:"body,omitempty"`
	IsBase64Encoded       bool              `json:"isBase64Encoded"`
}

type httpEventContext struct {
	AccountID    string `json:"accountId"`
	APIID        string `json:"apiId"`
	DomainName   string `json:"domainName"`
	DomainPrefix string `json:"domainPrefix"`
	HTTP         struct {
		Method    string `json:"method"`
		Path      string `json:"path"`
		Protocol  string `json:"protocol"`
		SourceIP  string `json:"sourceIp"`
		UserAgent string `json:"userAgent"`
	} `json:"http"`
	RequestID string `json:"requestId"`
	RouteKey  string `json:"routeKey"`
	Stage     string `json:"stage"`
	Time      string `json:"time"`
	TimeEpoch int64  `json:"timeEpoch"`
}

// httpAnswer is a function's structured answer, payload format 2.0.
type httpAnswer struct {
	StatusCode      *int              `json:"statusCode"`
	Headers         map[string]string `json:"headers"`
	Cookies         []string          `json:"cookies"`
	Body            string            `json:"body"`
	IsBase64Encoded bool              `json:"isBase64Encoded"`
}

func (a *HTTPAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	requestID := newRequestID()
	w.Header().Set("Apigw-Requestid", requestID)
	body, err := io.ReadAll(io.LimitReader(r.Body, maxRequestBody+1))
	if err != nil {
		gatewayError(w, http.StatusBadRequest, "Bad Request")
		return
	}
	if len(body) > maxRequestBody {
		gatewayError(w, http.StatusRequestEntityTooLarge, "Request Entity Too Large")
		return
	}
	payload, err := json.Marshal(a.event(r, body, requestID))
	if err != nil {
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	res, err := a.Invoke(r.Context(), payload)
	switch {
	case err != nil:
		gatewayError(w, http.StatusServiceUnavailable, "Service Unavailable")
		return
	case res.FunctionError != "":
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	writeAnswer(w, res.Payload)
}

// event is r as the function receives it.
func (a *HTTPAPI) event(r *http.Request, body []byte, requestID string) httpEvent {
	now := time.Now().UTC()
	ev := httpEvent{Version: "2.0", RouteKey: "$default", RawPath: r.URL.EscapedPath(), RawQueryString: r.URL.RawQuery,
		Headers: map[string]string{}}
	for name, values := range r.Header {
		if strings.EqualFold(name, "Cookie") {
			for _, v := range values {
				for c := range strings.SplitSeq(v, ";") {
					if c = strings.TrimSpace(c); c != "" {
						ev.Cookies = append(ev.Cookies, c)
					}
				}
			}
			continue
		}
		ev.Headers[strings.ToLower(name)] = strings.Join(values, ",")
	}
	ev.Headers["host"] = r.Host
	if q := r.URL.Query(); len(q) > 0 {
		ev.QueryStringParameters = map[string]string{}
		for k, vs := range q {
			ev.QueryStringParameters[k] = strings.Join(vs, ",")
		}
	}
	if len(body) > 0 {
		if utf8.Valid(body) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}
	c := &ev.RequestContext
	c.AccountID, c.APIID = a.Account, a.APIID
	if c.AccountID == "" {
		c.AccountID = "000000000000"
	}
	if c.APIID == "" {
		c.APIID = "local"
	}
	c.DomainName = r.Host
	c.DomainPrefix, _, _ = strings.Cut(r.Host, ".")
	c.HTTP.Method, c.HTTP.Path, c.HTTP.Protocol, c.HTTP.UserAgent = r.Method, r.URL.Path, r.Proto, r.UserAgent()
	c.HTTP.SourceIP = r.RemoteAddr
	if i := strings.LastIndexByte(r.RemoteAddr, ':'); i > 0 {
		c.HTTP.SourceIP = strings.Trim(r.RemoteAddr[:i], "[]")
	}
	c.RequestID, c.RouteKey, c.Stage = requestID, "$default", "$default"
	c.Time, c.TimeEpoch = now.Format("02/Jan/2006:15:04:05 -0700"), now.UnixMilli()
	return ev
}

// writeAnswer writes the function's answer: a structured one (with statusCode) as it says,
// any other JSON as a 200 application/json body, as API Gateway reads payload format 2.0.
func writeAnswer(w http.ResponseWriter, payload []byte) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(payload, &fields) != nil || fields["statusCode"] == nil {
		if !json.Valid(payload) {
			gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Content-Length", strconv.Itoa(len(payload)))
		w.Write(payload)
		return
	}
	var ans httpAnswer
	if json.Unmarshal(payload, &ans) != nil || *ans.StatusCode < 100 || *ans.StatusCode > 599 {
		gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
		return
	}
	body := []byte(ans.Body)
	if ans.IsBase64Encoded {
		decoded, err := base64.StdEncoding.DecodeString(ans.Body)
		if err != nil {
			gatewayError(w, http.StatusInternalServerError, "Internal Server Error")
			return
		}
		body = decoded
	}
	h := w.Header()
	for k, v := range ans.Headers {
		h.Set(k, v)
	}
	for _, c := range ans.Cookies {
		h.Add("Set-Cookie", c)
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(*ans.StatusCode)
	w.Write(body)
}

// gatewayError answers as API Gateway does when it has no answer of the function to give.
func gatewayError(w http.ResponseWriter, status int, message string) {
	body, _ := json.Marshal(map[string]string{"message": message})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}
