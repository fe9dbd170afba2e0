package fakeaws

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"errors"
	"fmt"
	"mime"
	"net/http"
	"net/url"
	"strings"
)

// protocol is how one service's requests and replies look on the wire.
type protocol interface {
	// operation names the request's operation, or "" if it names none.
	operation(r *request) string
	serve(r *request) (any, error)
	writeResult(w http.ResponseWriter, r *request, result any)
	writeError(w http.ResponseWriter, r *request, e *apiError)
	// authError is the refusal of a request whose signature did not pass, in this protocol's
	// words.
	authError(f *authFailure) *apiError
}

func protocolFor(service string) protocol {
	switch service {
	case "sts":
		return stsProtocol
	case "cloudformation":
		return cloudFormationProtocol
	case "kms":
		return kmsProtocol
	case "codedeploy":
		return codeDeployProtocol
	case "lambda":
		return lambdaProtocol
	case "monitoring":
		return cloudWatchProtocol
	case "s3":
		return s3Protocol{}
	}
	return unknownServiceProtocol
}

// Authentication failure codes, as the query (XML) and JSON protocols name them.
var (
	queryAuthCodes = map[authKind]apiError{
		authMissing:        {Code: "MissingAuthenticationToken", Status: 403},
		authMalformed:      {Code: "IncompleteSignature", Status: 403},
		authUnknownKey:     {Code: "InvalidClientTokenId", Status: 403},
		authBadSignature:   {Code: "SignatureDoesNotMatch", Status: 403},
		authExpiredToken:   {Code: "ExpiredToken", Status: 403},
		authSkewed:         {Code: "SignatureDoesNotMatch", Status: 403},
		authBadContentHash: {Code: "SignatureDoesNotMatch", Status: 403},
	}
	jsonAuthCodes = map[authKind]apiError{
		authMissing:        {Code: "MissingAuthenticationTokenException", Status: 403},
		authMalformed:      {Code: "IncompleteSignatureException", Status: 403},
		authUnknownKey:     {Code: "UnrecognizedClientException", Status: 403},
		authBadSignature:   {Code: "InvalidSignatureException", Status: 403},
		authExpiredToken:   {Code: "ExpiredTokenException", Status: 403},
		authSkewed:         {Code: "InvalidSignatureException", Status: 403},
		authBadContentHash: {Code: "InvalidSignatureException", Status: 403},
	}
)

func authError(codes map[authKind]apiError, f *authFailure) *apiError {
	e := codes[f.kind]
	e.Message = f.message
	return &e
}

// queryProtocol is awsQuery: a form POST naming Action and Version, answered with
// <ActionResponse><ActionResult>…</ActionResult></ActionResponse> or an <ErrorResponse>.
type queryProtocol struct {
	namespace string
	version   string
	handlers  map[string]func(r *request, form url.Values) (any, error)
}

var unknownServiceProtocol = &queryProtocol{namespace: "https://amazonaws.com/doc/unknown/"}

func (p *queryProtocol) form(r *request) url.Values {
	if r.form == nil {
		r.form, _ = url.ParseQuery(string(r.body))
		if r.form == nil {
			r.form = url.Values{}
		}
	}
	return r.form
}

func (p *queryProtocol) operation(r *request) string { return p.form(r).Get("Action") }

func (p *queryProtocol) serve(r *request) (any, error) {
	if p.handlers == nil {
		return nil, &apiError{Code: "UnknownService", Message: fmt.Sprintf("the fake does not serve the service %q", r.service), Status: 400}
	}
	if mt, _, _ := mime.ParseMediaType(r.http.Header.Get("Content-Type")); r.http.Method != http.MethodPost || mt != "application/x-www-form-urlencoded" {
		return nil, errorf("InvalidAction", "awsQuery requests are a POST of application/x-www-form-urlencoded")
	}
	form := p.form(r)
	h := p.handlers[r.operation]
	if h == nil {
		return nil, errorf("InvalidAction", "Could not find operation %s for version %s", r.operation, form.Get("Version"))
	}
	if v := form.Get("Version"); v != p.version {
		return nil, errorf("InvalidAction", "Could not find operation %s for version %s", r.operation, v)
	}
	return h(r, form)
}

func (p *queryProtocol) writeResult(w http.ResponseWriter, r *request, result any) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "<%sResponse xmlns=%q>", r.operation, p.namespace)
	if result == nil {
		fmt.Fprintf(&b, "<%sResult/>", r.operation)
	} else {
		enc := xml.NewEncoder(&b)
		if err := enc.EncodeElement(result, xml.StartElement{Name: xml.Name{Local: r.operation + "Result"}}); err != nil {
			p.writeError(w, r, asAPIError(err))
			return
		}
	}
	fmt.Fprintf(&b, "<ResponseMetadata><RequestId>%s</RequestId></ResponseMetadata></%sResponse>", r.requestID, r.operation)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-RequestId", r.requestID)
	w.Write(b.Bytes())
}

func (p *queryProtocol) writeError(w http.ResponseWriter, r *request, e *apiError) {
	fault := "Sender"
	if e.Server {
		fault = "Receiver"
	}
	var b bytes.Buffer
	fmt.Fprintf(&b, "<ErrorResponse xmlns=%q><Error><Type>%s</Type><Code>%s</Code><Message>", p.namespace, fault, e.Code)
	xml.EscapeText(&b, []byte(e.Message))
	fmt.Fprintf(&b, "</Message></Error><RequestId>%s</RequestId></ErrorResponse>", r.requestID)
	w.Header().Set("Content-Type", "text/xml")
	w.Header().Set("X-Amzn-RequestId", r.requestID)
	w.WriteHeader(e.status())
	w.Write(b.Bytes())
}

func (p *queryProtocol) authError(f *authFailure) *apiError { return authError(queryAuthCodes, f) }

// jsonProtocol is awsJson1_1: a POST whose X-Amz-Target names Prefix.Operation, with JSON
// bodies both ways and errors as {"__type": code, "message": text}.
type jsonProtocol struct {
	targetPrefix string
	handlers     map[string]func(r *request) (any, error)
}

func (p *jsonProtocol) operation(r *request) string {
	op, ok := strings.CutPrefix(r.http.Header.Get("X-Amz-Target"), p.targetPrefix+".")
	if !ok {
		return ""
	}
	return op
}

func (p *jsonProtocol) serve(r *request) (any, error) {
	if r.http.Method != http.MethodPost || r.http.Header.Get("Content-Type") != "application/x-amz-json-1.1" {
		return nil, errorf("SerializationException", "awsJson1_1 requests are a POST of application/x-amz-json-1.1")
	}
	h := p.handlers[r.operation]
	if h == nil {
		return nil, errorf("UnknownOperationException", "unknown operation %q", r.http.Header.Get("X-Amz-Target"))
	}
	return h(r)
}

func (p *jsonProtocol) writeResult(w http.ResponseWriter, r *request, result any) {
	writeJSON(w, r, http.StatusOK, "application/x-amz-json-1.1", result)
}

func (p *jsonProtocol) writeError(w http.ResponseWriter, r *request, e *apiError) {
	w.Header().Set("X-Amzn-ErrorType", e.Code)
	writeJSON(w, r, e.status(), "application/x-amz-json-1.1", map[string]string{"__type": e.Code, "message": e.Message})
}

func (p *jsonProtocol) authError(f *authFailure) *apiError { return authError(jsonAuthCodes, f) }

func writeJSON(w http.ResponseWriter, r *request, status int, contentType string, v any) {
	if v == nil {
		v = struct{}{}
	}
	body, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		body = []byte(`{"__type":"InternalFailure","message":"marshal reply"}`)
	}
	w.Header().Set("Content-Type", contentType)
	w.Header().Set("X-Amzn-RequestId", r.requestID)
	w.WriteHeader(status)
	w.Write(body)
}

// decodeJSON reads a JSON request body into v, refusing what does not fit its shape as AWS
// does, with a SerializationException.
func decodeJSON(body []byte, v any) error {
	if len(bytes.TrimSpace(body)) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return errorf("SerializationException", "field %s: expected %s, got a JSON %s", te.Field, te.Type, te.Value)
		}
		return errorf("SerializationException", "the body is not a JSON object: %v", err)
	}
	return nil
}
