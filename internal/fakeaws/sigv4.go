package fakeaws

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"
)

// authKind is why a request was refused before any service saw it. Each protocol names it with
// the code AWS uses in that protocol.
type authKind int

const (
	authOK authKind = iota
	authMissing
	authMalformed
	authUnknownKey
	authBadSignature
	authExpiredToken
	authSkewed
	authBadContentHash
)

// scope is who signed a request and for what, as far as the Authorization header tells.
type scope struct {
	service string
	region  string
	cred    *credential // nil if the key is unknown
}

// maxSkew is how far a request's X-Amz-Date may be from the fake's clock, as in AWS.
const maxSkew = 15 * time.Minute

type authFailure struct {
	kind    authKind
	message string
}

// authenticate checks a request's AWS Signature Version 4 (Authorization header form): the
// key is known, the session token is the key's and has not expired, the date is near, and the
// signature recomputed from the key's secret over the canonical request matches.
func (s *Server) authenticate(r *http.Request, body []byte) (scope, *authFailure) {
	var sc scope
	auth := r.Header.Get("Authorization")
	if auth == "" {
		sc.service = guessService(r)
		return sc, &authFailure{authMissing, "Request is missing Authentication Token"}
	}
	const algorithm = "AWS4-HMAC-SHA256 "
	if !strings.HasPrefix(auth, algorithm) {
		sc.service = guessService(r)
		return sc, &authFailure{authMalformed, "Only AWS4-HMAC-SHA256 (Signature Version 4) authorization is supported"}
	}
	fields := map[string]string{}
	for part := range strings.SplitSeq(auth[len(algorithm):], ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		if ok {
			fields[k] = v
		}
	}
	credParts := strings.Split(fields["Credential"], "/")
	if len(credParts) != 5 || credParts[4] != "aws4_request" || fields["SignedHeaders"] == "" || fields["Signature"] == "" {
		sc.service = guessService(r)
		return sc, &authFailure{authMalformed, "Authorization header requires 'Credential' (KEY/DATE/REGION/SERVICE/aws4_request), 'SignedHeaders' and 'Signature'"}
	}
	keyID, day, region, service := credParts[0], credParts[1], credParts[2], credParts[3]
	sc.service, sc.region = service, region

	s.mu.Lock()
	cred := s.keys[keyID]
	now := s.cfg.Now()
	s.mu.Unlock()
	if cred == nil {
		return sc, &authFailure{authUnknownKey, "The security token included in the request is invalid."}
	}
	sc.cred = cred

	amzDate := r.Header.Get("X-Amz-Date")
	when, err := time.Parse("20060102T150405Z", amzDate)
	if err != nil || !strings.HasPrefix(amzDate, day) {
		return sc, &authFailure{authMalformed, "X-Amz-Date must be the signing time as YYYYMMDD'T'HHMMSS'Z' on the credential scope's day"}
	}
	if d := now.Sub(when); d > maxSkew || d < -maxSkew {
		return sc, &authFailure{authSkewed, "Signature expired: " + amzDate + " is now earlier than " + now.Add(-maxSkew).UTC().Format("20060102T150405Z") + " (" + now.UTC().Format("20060102T150405Z") + " - 15 min.)"}
	}
	if cred.SessionToken != "" {
		token := r.Header.Get("X-Amz-Security-Token")
		if subtle.ConstantTimeCompare([]byte(token), []byte(cred.SessionToken)) != 1 {
			return sc, &authFailure{authUnknownKey, "The security token included in the request is invalid."}
		}
		if !now.Before(cred.expires) {
			return sc, &authFailure{authExpiredToken, "The security token included in the request is expired"}
		}
	}

	payloadHash := r.Header.Get("X-Amz-Content-Sha256")
	sum := sha256.Sum256(body)
	actual := hex.EncodeToString(sum[:])
	switch {
	case payloadHash == "":
		payloadHash = actual
	case payloadHash == "UNSIGNED-PAYLOAD" || strings.HasPrefix(payloadHash, "STREAMING-"):
	case payloadHash != actual:
		return sc, &authFailure{authBadContentHash, "The provided 'x-amz-content-sha256' header does not match what was computed."}
	}

	signedHeaders := strings.Split(fields["SignedHeaders"], ";")
	if !slices.Contains(signedHeaders, "host") {
		return sc, &authFailure{authBadSignature, "'Host' must be a signed header"}
	}
	canonical := canonicalRequest(r, signedHeaders, payloadHash, service != "s3")
	hash := sha256.Sum256([]byte(canonical))
	stringToSign := "AWS4-HMAC-SHA256\n" + amzDate + "\n" + strings.Join(credParts[1:], "/") + "\n" + hex.EncodeToString(hash[:])
	key := hmacSHA256([]byte("AWS4"+cred.SecretAccessKey), day)
	key = hmacSHA256(key, region)
	key = hmacSHA256(key, service)
	key = hmacSHA256(key, "aws4_request")
	want := hex.EncodeToString(hmacSHA256(key, stringToSign))
	if !hmac.Equal([]byte(want), []byte(fields["Signature"])) {
		return sc, &authFailure{authBadSignature, "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details."}
	}
	return sc, nil
}

// canonicalRequest is the SigV4 canonical request: method, path (escaped once more except for
// S3), sorted query, the signed headers and the payload hash.
func canonicalRequest(r *http.Request, signedHeaders []string, payloadHash string, escapePathAgain bool) string {
	path, _, _ := strings.Cut(r.RequestURI, "?")
	if path == "" {
		path = "/"
	}
	if escapePathAgain {
		path = escapePath(path)
	}
	query, _ := url.ParseQuery(r.URL.RawQuery)
	for _, vs := range query {
		slices.Sort(vs)
	}
	canonicalQuery := strings.ReplaceAll(query.Encode(), "+", "%20")

	var headers strings.Builder
	for _, name := range signedHeaders {
		var value string
		switch name {
		case "host":
			value = r.Host
		default:
			vs := r.Header.Values(name)
			trimmed := make([]string, len(vs))
			for i, v := range vs {
				trimmed[i] = strings.Join(strings.Fields(v), " ")
			}
			value = strings.Join(trimmed, ",")
		}
		headers.WriteString(name + ":" + value + "\n")
	}
	return r.Method + "\n" + path + "\n" + canonicalQuery + "\n" + headers.String() + "\n" +
		strings.Join(signedHeaders, ";") + "\n" + payloadHash
}

// escapePath escapes each byte outside the unreserved set and '/', as the signer does to a path
// that is already escaped.
func escapePath(p string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(p); i++ {
		c := p[i]
		if 'A' <= c && c <= 'Z' || 'a' <= c && c <= 'z' || '0' <= c && c <= '9' || strings.IndexByte("-_.~/", c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

func hmacSHA256(key []byte, data string) []byte {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(data))
	return m.Sum(nil)
}

// guessService names the service of an unsigned request from what its protocol puts on the
// wire, so that its refusal has the shape that client reads.
func guessService(r *http.Request) string {
	switch target := r.Header.Get("X-Amz-Target"); {
	case strings.HasPrefix(target, "TrentService."):
		return "kms"
	case strings.HasPrefix(target, "CodeDeploy_"):
		return "codedeploy"
	}
	switch {
	case strings.HasPrefix(r.URL.Path, "/service/GraniteServiceVersion20100801/"):
		return "monitoring"
	case strings.HasPrefix(r.URL.Path, "/2015-03-31/functions"):
		return "lambda"
	case r.Method == http.MethodPost && r.URL.Path == "/":
		return "sts"
	}
	return "s3"
}
