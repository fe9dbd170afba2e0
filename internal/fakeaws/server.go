package fakeaws

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Config says which accounts and roles the fake holds. The zero Config holds no account: every
// request is refused as signed with an unknown key.
type Config struct {
	// Accounts are 12-digit account IDs; each gets root keys (see Server.Root).
	Accounts []string
	// Roles may be assumed with STS AssumeRole. A role whose account is not in Accounts adds it.
	Roles []Role
	// SessionLifetime, if non-zero, is how long temporary credentials from AssumeRole live,
	// whatever DurationSeconds asked for, so that tests can watch credentials expire. If zero,
	// DurationSeconds (default 3600) is used, as AWS does.
	SessionLifetime time.Duration
	// StackStepDelay is how long each step of a stack operation takes (a resource created,
	// updated or deleted). If zero, 20ms is used.
	StackStepDelay time.Duration
	// ChangeSetDelay is how long a change set stays CREATE_PENDING/CREATE_IN_PROGRESS before it
	// is CREATE_COMPLETE. If zero, 20ms is used.
	ChangeSetDelay time.Duration
	// LambdaUpdateDelay is how long an UpdateFunctionCode stays LastUpdateStatus InProgress,
	// during which PublishVersion and another update are refused as Lambda refuses them. If
	// zero, 20ms is used.
	LambdaUpdateDelay time.Duration
	// Now is the fake's clock. If nil, time.Now is used.
	Now func() time.Time
}

// Role is an IAM role that can be assumed.
type Role struct {
	Account string // 12 digits
	Name    string // such as hello-api-eu-west-1-DeploymentRole
	// Trusts are the accounts whose principals may assume the role. If empty, any account of
	// the fake may.
	Trusts []string
	// ExternalID, if set, is the sts:ExternalId the role's trust policy requires: AssumeRole
	// without it, or with another, is refused with AccessDenied.
	ExternalID string
}

// ARN is the role's ARN.
func (r Role) ARN() string { return "arn:aws:iam::" + r.Account + ":role/" + r.Name }

// Keys are credentials for signing requests to the fake.
type Keys struct {
	AccessKeyID     string
	SecretAccessKey string
	SessionToken    string // empty for root keys
}

// Call is one request the fake answered (or refused after learning who sent it).
type Call struct {
	Account     string // the account whose credentials signed it; empty if unknown
	Region      string
	Service     string // the signing name: sts, cloudformation, s3, kms, lambda, monitoring, codedeploy
	Operation   string // such as AssumeRole, UpdateAlias, PutObject
	AccessKeyID string
	Role        string // the assumed role's name; empty for root keys
	SessionName string // the role session name; empty for root keys
	ErrorCode   string // empty if the call succeeded
}

// Server is a running fake. Its methods are safe to call concurrently, with requests in flight.
type Server struct {
	// URL is the base endpoint, such as http://127.0.0.1:41234, for every service.
	URL string

	cfg      Config
	listener net.Listener
	http     *http.Server
	done     chan struct{}
	stop     chan struct{} // closed by Close: stack operations under way end

	mu       sync.Mutex
	accounts map[string]*account
	roles    map[string]Role // by ARN
	keys     map[string]*credential
	calls    []Call
	hooks    hooks
	s3       *s3Front
	closing  bool
	workers  sync.WaitGroup
}

// credential is an access key the fake issued.
type credential struct {
	Keys
	account     string
	role        string // empty for root
	sessionName string
	expires     time.Time // zero for root
}

// account holds one account's state, per region.
type account struct {
	id      string
	regions map[string]*region
}

var accountPattern = regexp.MustCompile(`^[0-9]{12}$`)

// Start starts a fake on 127.0.0.1 on a free port. Close it when done.
func Start(cfg Config) (*Server, error) {
	s := &Server{
		cfg:      cfg,
		accounts: map[string]*account{},
		roles:    map[string]Role{},
		keys:     map[string]*credential{},
		done:     make(chan struct{}),
		stop:     make(chan struct{}),
	}
	if s.cfg.Now == nil {
		s.cfg.Now = time.Now
	}
	if s.cfg.StackStepDelay == 0 {
		s.cfg.StackStepDelay = 20 * time.Millisecond
	}
	if s.cfg.LambdaUpdateDelay == 0 {
		s.cfg.LambdaUpdateDelay = 20 * time.Millisecond
	}
	if s.cfg.ChangeSetDelay == 0 {
		s.cfg.ChangeSetDelay = 20 * time.Millisecond
	}
	for _, id := range cfg.Accounts {
		if err := s.AddAccount(id); err != nil {
			return nil, err
		}
	}
	for _, r := range cfg.Roles {
		if err := s.AddRole(r); err != nil {
			return nil, err
		}
	}
	s.s3 = newS3Front(s)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listen on 127.0.0.1: %w", err)
	}
	s.listener = ln
	s.URL = "http://" + ln.Addr().String()
	s.http = &http.Server{Handler: s, ReadHeaderTimeout: time.Minute}
	go func() {
		defer close(s.done)
		_ = s.http.Serve(ln)
	}()
	return s, nil
}

// Close stops the server and the stack operations under way.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		return nil
	}
	s.closing = true
	s.mu.Unlock()
	close(s.stop)
	err := s.http.Close()
	<-s.done
	s.workers.Wait()
	return err
}

// AddAccount adds an account with root keys. Adding one twice is harmless.
func (s *Server) AddAccount(id string) error {
	if !accountPattern.MatchString(id) {
		return fmt.Errorf("account %q: an AWS account ID is 12 digits", id)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addAccountLocked(id)
	return nil
}

func (s *Server) addAccountLocked(id string) *account {
	if a := s.accounts[id]; a != nil {
		return a
	}
	a := &account{id: id, regions: map[string]*region{}}
	s.accounts[id] = a
	root := &credential{Keys: Keys{AccessKeyID: "AKIA" + strings.ToUpper(randomHex(8)), SecretAccessKey: randomHex(20)}, account: id}
	s.keys[root.AccessKeyID] = root
	return a
}

// AddRole adds a role that STS AssumeRole can assume, and its account if new.
func (s *Server) AddRole(r Role) error {
	if !accountPattern.MatchString(r.Account) {
		return fmt.Errorf("role %q: account %q is not 12 digits", r.Name, r.Account)
	}
	if !roleNamePattern.MatchString(r.Name) {
		return fmt.Errorf("role %q: a role name is 1-64 of letters, digits and +=,.@_-", r.Name)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.addAccountLocked(r.Account)
	s.roles[r.ARN()] = r
	return nil
}

// Root returns the root keys of an account, or false if the fake has no such account.
func (s *Server) Root(accountID string) (Keys, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.keys {
		if c.account == accountID && c.role == "" {
			return c.Keys, true
		}
	}
	return Keys{}, false
}

// Env is what points the SDK's default chain at the fake as an account's root: the endpoint,
// the keys and the region, as NAME=value lines for a process's environment (or os.Setenv).
// It is nil if the fake has no such account.
func (s *Server) Env(accountID, region string) []string {
	keys, ok := s.Root(accountID)
	if !ok {
		return nil
	}
	return []string{
		"AWS_ENDPOINT_URL=" + s.URL,
		"AWS_ACCESS_KEY_ID=" + keys.AccessKeyID,
		"AWS_SECRET_ACCESS_KEY=" + keys.SecretAccessKey,
		"AWS_REGION=" + region,
	}
}

// Calls returns a copy of every call recorded so far, in the order they were answered.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

func (s *Server) record(c Call) {
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
}

// regionLocked returns the state of an account in a region, made on first use. s.mu is held.
func (s *Server) regionLocked(accountID, name string) *region {
	a := s.addAccountLocked(accountID)
	r := a.regions[name]
	if r == nil {
		r = newRegion(accountID, name)
		a.regions[name] = r
	}
	return r
}

// request is one authenticated request on its way to a service.
type request struct {
	s         *Server
	http      *http.Request
	body      []byte
	cred      *credential
	account   string
	region    string
	service   string
	operation string
	requestID string
	form      url.Values // awsQuery parameters, parsed once
}

// state returns the caller's account state in the request's region; s.mu must be held.
func (r *request) state() *region { return r.s.regionLocked(r.account, r.region) }

// principalARN is the caller as GetCallerIdentity names it.
func (r *request) principalARN() string {
	if r.cred.role == "" {
		return "arn:aws:iam::" + r.account + ":root"
	}
	return "arn:aws:sts::" + r.account + ":assumed-role/" + r.cred.role + "/" + r.cred.sessionName
}

// ServeHTTP verifies the request's signature and hands it to the service its credential scope
// names.
func (s *Server) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	defer func() {
		// A request the fake cannot handle is a bug in the fake; the caller gets AWS's answer to
		// an internal error rather than a dropped connection.
		if v := recover(); v != nil {
			http.Error(w, fmt.Sprintf("InternalFailure: the fake AWS failed on %s %s: %v", hr.Method, hr.URL.Path, v), http.StatusInternalServerError)
		}
	}()
	body, err := io.ReadAll(http.MaxBytesReader(w, hr.Body, 64<<20))
	if err != nil {
		http.Error(w, "read body: "+err.Error(), http.StatusBadRequest)
		return
	}
	req := &request{s: s, http: hr, body: body, requestID: newRequestID()}
	scope, sigErr := s.authenticate(hr, body)
	req.service, req.region = scope.service, scope.region
	p := protocolFor(req.service)
	req.operation = p.operation(req)
	if scope.cred != nil {
		req.cred, req.account = scope.cred, scope.cred.account
	}
	call := Call{Account: req.account, Region: req.region, Service: req.service, Operation: req.operation}
	if req.cred != nil {
		call.AccessKeyID, call.Role, call.SessionName = req.cred.AccessKeyID, req.cred.role, req.cred.sessionName
	}
	if sigErr != nil {
		e := p.authError(sigErr)
		call.ErrorCode = e.Code
		s.record(call)
		p.writeError(w, req, e)
		return
	}
	result, err := p.serve(req)
	if err != nil {
		e := asAPIError(err)
		call.ErrorCode = e.Code
		s.record(call)
		p.writeError(w, req, e)
		return
	}
	if failed, ok := result.(interface{ errorCode() string }); ok {
		call.ErrorCode = failed.errorCode()
	}
	s.record(call)
	p.writeResult(w, req, result)
}

// apiError is an error as AWS reports it: a code the SDK maps to a typed error, a message and
// an HTTP status.
type apiError struct {
	Code    string
	Message string
	Status  int  // if zero, 400
	Server  bool // a Receiver fault rather than a Sender one
}

func (e *apiError) Error() string { return e.Code + ": " + e.Message }

func (e *apiError) status() int {
	if e.Status == 0 {
		return http.StatusBadRequest
	}
	return e.Status
}

func asAPIError(err error) *apiError {
	if e, ok := err.(*apiError); ok {
		return e
	}
	return &apiError{Code: "InternalFailure", Message: err.Error(), Status: http.StatusInternalServerError, Server: true}
}

func errorf(code, format string, args ...any) *apiError {
	return &apiError{Code: code, Message: fmt.Sprintf(format, args...)}
}

func randomHex(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return hex.EncodeToString(b)
}

func newRequestID() string {
	h := randomHex(16)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}
