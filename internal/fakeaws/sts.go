package fakeaws

import (
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

var stsProtocol = &queryProtocol{
	namespace: "https://sts.amazonaws.com/doc/2011-06-15/",
	version:   "2011-06-15",
	handlers: map[string]func(*request, url.Values) (any, error){
		"AssumeRole":        assumeRole,
		"GetCallerIdentity": getCallerIdentity,
	},
}

var (
	roleNamePattern    = regexp.MustCompile(`^[\w+=,.@-]{1,64}$`)
	roleARNPattern     = regexp.MustCompile(`^arn:aws:iam::([0-9]{12}):role/(?:[\w+=,.@/-]*/)?([\w+=,.@-]{1,64})$`)
	sessionNamePattern = regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	externalIDPattern  = regexp.MustCompile(`^[\w+=,.@:/-]+$`)
)

type stsCredentials struct {
	AccessKeyId     string
	SecretAccessKey string
	SessionToken    string
	Expiration      string
}

type assumeRoleResult struct {
	Credentials     stsCredentials
	AssumedRoleUser struct {
		Arn           string
		AssumedRoleId string
	}
	PackedPolicySize int
}

func assumeRole(r *request, form url.Values) (any, error) {
	roleARN, sessionName := form.Get("RoleArn"), form.Get("RoleSessionName")
	var problems []string
	if roleARN == "" {
		problems = append(problems, "Value null at 'roleArn' failed to satisfy constraint: Member must not be null")
	} else if len(roleARN) < 20 || len(roleARN) > 2048 {
		problems = append(problems, fmt.Sprintf("Value '%s' at 'roleArn' failed to satisfy constraint: Member must have length between 20 and 2048", roleARN))
	}
	if sessionName == "" {
		problems = append(problems, "Value null at 'roleSessionName' failed to satisfy constraint: Member must not be null")
	} else if !sessionNamePattern.MatchString(sessionName) {
		problems = append(problems, fmt.Sprintf("Value '%s' at 'roleSessionName' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@-]* and have length between 2 and 64", sessionName))
	}
	duration := 3600
	if d := form.Get("DurationSeconds"); d != "" {
		n, err := strconv.Atoi(d)
		if err != nil || n < 900 || n > 43200 {
			problems = append(problems, fmt.Sprintf("Value '%s' at 'durationSeconds' failed to satisfy constraint: Member must have value between 900 and 43200", d))
		}
		duration = n
	}
	if id := form.Get("ExternalId"); form.Has("ExternalId") && (len(id) < 2 || len(id) > 1224 || !externalIDPattern.MatchString(id)) {
		problems = append(problems, fmt.Sprintf("Value '%s' at 'externalId' failed to satisfy constraint: Member must satisfy regular expression pattern: [\\w+=,.@:\\/-]* and have length between 2 and 1224", id))
	}
	if len(problems) > 0 {
		return nil, errorf("ValidationError", "%d validation error%s detected: %s", len(problems), plural(len(problems)), strings.Join(problems, "; "))
	}
	if r.cred.role != "" && duration > 3600 {
		return nil, errorf("ValidationError", "The requested DurationSeconds exceeds the 1 hour session limit for roles assumed by role chaining.")
	}
	m := roleARNPattern.FindStringSubmatch(roleARN)
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	role, ok := r.s.roles[roleARN]
	if m == nil || !ok || (len(role.Trusts) > 0 && !slices.Contains(role.Trusts, r.account)) || role.ExternalID != form.Get("ExternalId") {
		return nil, &apiError{Code: "AccessDenied", Status: 403, Message: fmt.Sprintf(
			"User: %s is not authorized to perform: sts:AssumeRole on resource: %s", r.principalARN(), roleARN)}
	}
	lifetime := time.Duration(duration) * time.Second
	if r.s.cfg.SessionLifetime != 0 {
		lifetime = r.s.cfg.SessionLifetime
	}
	expires := r.s.cfg.Now().Add(lifetime).UTC()
	cred := &credential{
		Keys: Keys{
			AccessKeyID:     "ASIA" + strings.ToUpper(randomHex(8)),
			SecretAccessKey: randomHex(20),
			SessionToken:    "FQoGZXIvYXdzE" + randomHex(48),
		},
		account:     role.Account,
		role:        role.Name,
		sessionName: sessionName,
		expires:     expires,
	}
	r.s.keys[cred.AccessKeyID] = cred
	var res assumeRoleResult
	res.Credentials = stsCredentials{cred.AccessKeyID, cred.SecretAccessKey, cred.SessionToken, expires.Format(time.RFC3339Nano)}
	res.AssumedRoleUser.Arn = "arn:aws:sts::" + role.Account + ":assumed-role/" + role.Name + "/" + sessionName
	res.AssumedRoleUser.AssumedRoleId = roleID(role) + ":" + sessionName
	return res, nil
}

// roleID is a stable fake of the unique ID IAM gives a role.
func roleID(role Role) string {
	return "AROA" + strings.ToUpper(fmt.Sprintf("%x", []byte(role.Account+role.Name)))[:17]
}

type callerIdentity struct {
	UserId  string
	Account string
	Arn     string
}

func getCallerIdentity(r *request, _ url.Values) (any, error) {
	id := callerIdentity{UserId: r.account, Account: r.account, Arn: r.principalARN()}
	if r.cred.role != "" {
		id.UserId = roleID(Role{Account: r.account, Name: r.cred.role}) + ":" + r.cred.sessionName
	}
	return id, nil
}

func plural(n int) string {
	if n == 1 {
		return ""
	}
	return "s"
}
