package fakeaws

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"
)

// s3Front puts gofakes3 behind the fake's signature check: one in-memory S3 per account,
// bucket names unique across accounts as in S3, a bucket reachable only by its owner, and
// SSE-KMS checked against the fake's KMS.
type s3Front struct {
	s *Server

	mu         sync.Mutex
	accounts   map[string]*accountS3
	owners     map[string]string // bucket → account
	requireKMS map[string]string // bucket → key ARN it requires ("" for any key)
	encryption map[string]ObjectEncryption
}

type accountS3 struct {
	backend *s3mem.Backend
	handler http.Handler
}

// ObjectEncryption is how an object was stored, from its PutObject headers.
type ObjectEncryption struct {
	ServerSideEncryption string // such as aws:kms; empty if not asked for
	KMSKeyID             string // as the request named it
	KeyARN               string // the key it resolved to
	Context              string // x-amz-server-side-encryption-context, base64 JSON
}

func newS3Front(s *Server) *s3Front {
	return &s3Front{s: s, accounts: map[string]*accountS3{}, owners: map[string]string{},
		requireKMS: map[string]string{}, encryption: map[string]ObjectEncryption{}}
}

func (f *s3Front) account(id string) *accountS3 {
	f.mu.Lock()
	defer f.mu.Unlock()
	a := f.accounts[id]
	if a == nil {
		backend := s3mem.New()
		a = &accountS3{backend: backend, handler: gofakes3.New(backend, gofakes3.WithTimeSkewLimit(0), gofakes3.WithHostBucket(false)).Server()}
		f.accounts[id] = a
	}
	return a
}

// readObject reads an object the account may read (its own buckets).
func (f *s3Front) readObject(account, bucket, key string) ([]byte, error) {
	f.mu.Lock()
	owner := f.owners[bucket]
	f.mu.Unlock()
	if owner != account {
		return nil, fmt.Errorf("bucket %s is not in account %s", bucket, account)
	}
	obj, err := f.account(account).backend.GetObject(bucket, key, nil)
	if err != nil {
		return nil, err
	}
	defer obj.Contents.Close()
	return io.ReadAll(obj.Contents)
}

type s3Protocol struct{}

// s3Path splits a path-style request into bucket and key.
func s3Path(r *http.Request) (bucket, key string) {
	p := strings.TrimPrefix(r.URL.Path, "/")
	bucket, key, _ = strings.Cut(p, "/")
	return bucket, key
}

func (s3Protocol) operation(r *request) string {
	bucket, key := s3Path(r.http)
	q := r.http.URL.Query()
	switch m := r.http.Method; {
	case bucket == "" && m == http.MethodGet:
		return "ListBuckets"
	case q.Has("uploads") && m == http.MethodPost:
		return "CreateMultipartUpload"
	case q.Has("uploadId") && m == http.MethodPut:
		return "UploadPart"
	case q.Has("uploadId") && m == http.MethodPost:
		return "CompleteMultipartUpload"
	case q.Has("uploadId") && m == http.MethodDelete:
		return "AbortMultipartUpload"
	case q.Has("delete") && m == http.MethodPost:
		return "DeleteObjects"
	case key == "" && m == http.MethodPut:
		return "CreateBucket"
	case key == "" && m == http.MethodHead:
		return "HeadBucket"
	case key == "" && m == http.MethodDelete:
		return "DeleteBucket"
	case key == "" && m == http.MethodGet && q.Get("list-type") == "2":
		return "ListObjectsV2"
	case key == "" && m == http.MethodGet:
		return "ListObjects"
	case m == http.MethodPut && r.http.Header.Get("X-Amz-Copy-Source") != "":
		return "CopyObject"
	case m == http.MethodPut:
		return "PutObject"
	case m == http.MethodGet:
		return "GetObject"
	case m == http.MethodHead:
		return "HeadObject"
	case m == http.MethodDelete:
		return "DeleteObject"
	}
	return ""
}

// s3Reply is gofakes3's answer, replayed to the client.
type s3Reply struct{ *httptest.ResponseRecorder }

func (r s3Reply) errorCode() string {
	if r.Code < 300 {
		return ""
	}
	var e struct{ Code string }
	xml.Unmarshal(r.Body.Bytes(), &e)
	if e.Code == "" {
		return http.StatusText(r.Code)
	}
	return e.Code
}

func (s3Protocol) serve(r *request) (any, error) {
	f := r.s.s3
	bucket, key := s3Path(r.http)
	var enc ObjectEncryption
	if bucket != "" {
		f.mu.Lock()
		owner, required := f.owners[bucket], f.requireKMS[bucket]
		_, mustEncrypt := f.requireKMS[bucket]
		f.mu.Unlock()
		switch {
		case r.operation == "CreateBucket" && owner != "" && owner != r.account:
			return nil, &apiError{Code: "BucketAlreadyExists", Status: 409, Message: "The requested bucket name is not available. The bucket namespace is shared by all users of the system. Please select a different name and try again."}
		case owner != "" && owner != r.account:
			return nil, &apiError{Code: "AccessDenied", Status: 403, Message: "Access Denied"}
		}
		if r.operation == "PutObject" || r.operation == "CopyObject" || r.operation == "CreateMultipartUpload" {
			h := r.http.Header
			enc = ObjectEncryption{
				ServerSideEncryption: h.Get("X-Amz-Server-Side-Encryption"),
				KMSKeyID:             h.Get("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id"),
				Context:              h.Get("X-Amz-Server-Side-Encryption-Context"),
			}
			if enc.ServerSideEncryption != "" && enc.ServerSideEncryption != "aws:kms" && enc.ServerSideEncryption != "AES256" {
				return nil, errorf("InvalidArgument", "The encryption method specified is not supported")
			}
			if enc.KMSKeyID != "" && enc.ServerSideEncryption != "aws:kms" {
				return nil, errorf("InvalidArgument", "Server Side Encryption with KMS managed key requires HTTP header x-amz-server-side-encryption : aws:kms")
			}
			if enc.ServerSideEncryption == "aws:kms" {
				r.s.mu.Lock()
				reg := r.state()
				keyID := enc.KMSKeyID
				if keyID == "" {
					keyID = "alias/aws/s3"
					if _, ok := reg.keyAliases[keyID]; !ok {
						reg.createManagedKey(keyID, r.s.cfg.Now())
					}
				}
				k, err := reg.findKey(r, keyID, "GenerateDataKey")
				r.s.mu.Unlock()
				if err != nil {
					e := asAPIError(err)
					return nil, &apiError{Code: "KMS." + e.Code, Status: 400, Message: e.Message}
				}
				enc.KeyARN = k.arn
			}
			if mustEncrypt && (enc.ServerSideEncryption != "aws:kms" || required != "" && enc.KeyARN != required) {
				return nil, &apiError{Code: "AccessDenied", Status: 403, Message: "Access Denied: the bucket policy requires SSE-KMS with key " + required}
			}
		}
	}
	hr := r.http.Clone(r.http.Context())
	hr.Body = io.NopCloser(bytes.NewReader(r.body))
	rec := httptest.NewRecorder()
	f.account(r.account).handler.ServeHTTP(rec, hr)
	if rec.Code < 300 {
		f.mu.Lock()
		switch r.operation {
		case "CreateBucket":
			f.owners[bucket] = r.account
		case "DeleteBucket":
			delete(f.owners, bucket)
		case "PutObject", "CopyObject":
			f.encryption[bucket+"/"+key] = enc
		}
		f.mu.Unlock()
		if enc.ServerSideEncryption == "aws:kms" {
			rec.Header().Set("X-Amz-Server-Side-Encryption", "aws:kms")
			rec.Header().Set("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", enc.KeyARN)
		}
	}
	return s3Reply{rec}, nil
}

func (s3Protocol) writeResult(w http.ResponseWriter, r *request, result any) {
	rec := result.(s3Reply)
	for k, vs := range rec.Header() {
		w.Header()[k] = vs
	}
	if r.operation == "GetObject" || r.operation == "HeadObject" {
		bucket, key := s3Path(r.http)
		r.s.s3.mu.Lock()
		enc, ok := r.s.s3.encryption[bucket+"/"+key]
		r.s.s3.mu.Unlock()
		if ok && enc.ServerSideEncryption != "" {
			w.Header().Set("X-Amz-Server-Side-Encryption", enc.ServerSideEncryption)
			if enc.KeyARN != "" {
				w.Header().Set("X-Amz-Server-Side-Encryption-Aws-Kms-Key-Id", enc.KeyARN)
			}
		}
	}
	w.WriteHeader(rec.Code)
	w.Write(rec.Body.Bytes())
}

func (s3Protocol) writeError(w http.ResponseWriter, r *request, e *apiError) {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	fmt.Fprintf(&b, "<Error><Code>%s</Code><Message>", e.Code)
	xml.EscapeText(&b, []byte(e.Message))
	fmt.Fprintf(&b, "</Message><RequestId>%s</RequestId></Error>", r.requestID)
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("X-Amz-Request-Id", r.requestID)
	w.WriteHeader(e.status())
	if r.http.Method != http.MethodHead {
		w.Write(b.Bytes())
	}
}

var s3AuthCodes = map[authKind]apiError{
	authMissing:        {Code: "AccessDenied", Status: 403},
	authMalformed:      {Code: "AuthorizationHeaderMalformed", Status: 400},
	authUnknownKey:     {Code: "InvalidAccessKeyId", Status: 403},
	authBadSignature:   {Code: "SignatureDoesNotMatch", Status: 403},
	authExpiredToken:   {Code: "ExpiredToken", Status: 400},
	authSkewed:         {Code: "RequestTimeTooSkewed", Status: 403},
	authBadContentHash: {Code: "XAmzContentSHA256Mismatch", Status: 400},
}

func (s3Protocol) authError(f *authFailure) *apiError { return authError(s3AuthCodes, f) }
