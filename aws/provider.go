package aws

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/internal/awsclient"
)

// Provider deploys environments of target aws. The engine runs with the tooling account's
// credentials (the SDK's default chain: environment, profile, instance role); each environment
// is reached through its own assumed role, and only through it.
type Provider struct {
	host deploy.Host
	log  *slog.Logger
	// load returns the tooling account's configuration; tests and the demo point it at a fake
	// through the standard AWS_ENDPOINT_URL settings, so it is config.LoadDefaultConfig (with
	// awsclient's option, as every configuration of Sluice).
	load  func(ctx context.Context) (sdk.Config, error)
	clock deploy.Clock
	// poll is the first wait between two reads of something CloudFormation does in the
	// background; it doubles up to pollMax.
	poll, pollMax time.Duration

	mu       sync.Mutex
	tooling  *sdk.Config
	sessions map[sessionKey]*session
	statuses map[string]cachedStatus // by environment
}

// Open opens the aws provider. It reads no credentials until an aws environment is used, so a
// route without one never needs them.
func Open(h deploy.Host) (deploy.Provider, error) {
	return New(h), nil
}

// New returns a provider reading the tooling account's configuration from the SDK's default
// chain.
func New(h deploy.Host) *Provider {
	log := h.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Provider{
		host: h, log: log, clock: deploy.SystemClock,
		load: func(ctx context.Context) (sdk.Config, error) {
			return config.LoadDefaultConfig(ctx, awsclient.LoadOption())
		},
		poll: 100 * time.Millisecond, pollMax: 2 * time.Second,
		sessions: map[sessionKey]*session{},
		statuses: map[string]cachedStatus{},
	}
}

// sessionKey names one environment's credentials: its account, region and role, for one
// execution (the role session is named after it).
type sessionKey struct{ account, region, role, externalID, name string }

// session is an environment's clients, all signing with the role assumed in its account.
type session struct {
	used    time.Time // guarded by Provider.mu
	roleARN string
	cfn     *cloudformation.Client
	lambda  *lambda.Client
	cw      *cloudwatch.Client
	cd      *codedeploy.Client
}

func (p *Provider) toolingConfig(ctx context.Context) (sdk.Config, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tooling != nil {
		return *p.tooling, nil
	}
	cfg, err := p.load(ctx)
	if err != nil {
		return sdk.Config{}, sluice.Errorf(sluice.EINVALID, "read the AWS configuration of the tooling account: %v; set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY", err)
	}
	p.tooling = &cfg
	return cfg, nil
}

// targetOf returns env's target configuration with its defaults filled in.
func targetOf(env deploy.Environment) (*Target, error) {
	t, ok := env.Config.(*Target)
	if !ok || t == nil {
		return nil, sluice.Errorf(sluice.EINTERNAL, "environment %s has no aws target configuration; this is a bug in the wiring", env.Name)
	}
	c := *t
	if c.Stack == "" {
		c.Stack = stackName(env.Route, env.Name)
	}
	if c.Template == "" {
		c.Template = "template.yaml"
	}
	if c.Alias == "" {
		c.Alias = "live"
	}
	if c.MetricsInterval == 0 {
		c.MetricsInterval = 10 * time.Second
	}
	return &c, nil
}

var notStackChar = regexp.MustCompile(`[^A-Za-z0-9-]+`)

// stackName is the default stack of an environment: <route>-<environment>, where a branch
// pipeline's environment (dev@release-1.0) gives dev-release-1-0.
func stackName(route, env string) string {
	name := notStackChar.ReplaceAllString(route+"-"+env, "-")
	name = strings.Trim(name, "-")
	if name == "" || !(name[0] >= 'A' && name[0] <= 'Z' || name[0] >= 'a' && name[0] <= 'z') {
		name = "sluice-" + name
	}
	return strings.TrimRight(name[:min(len(name), 128)], "-")
}

// executionRoleARN is the CloudFormation execution role of t, or "" when it has none.
func executionRoleARN(t *Target) string {
	switch {
	case t.ExecutionRole == "":
		return ""
	case strings.HasPrefix(t.ExecutionRole, "arn:"):
		return t.ExecutionRole
	}
	return fmt.Sprintf("arn:aws:iam::%s:role/%s", t.Account, t.ExecutionRole)
}

// roleARN is the deployment role of t: its ARN, a name in its account, or the default
// <route>-<region>-DeploymentRole that `sluice aws bootstrap` creates.
func roleARN(route string, t *Target) string {
	switch {
	case strings.HasPrefix(t.Role, "arn:"):
		return t.Role
	case t.Role != "":
		return fmt.Sprintf("arn:aws:iam::%s:role/%s", t.Account, t.Role)
	}
	return fmt.Sprintf("arn:aws:iam::%s:role/%s-%s-DeploymentRole", t.Account, route, t.Region)
}

var notSessionChar = regexp.MustCompile(`[^A-Za-z0-9+=,.@-]+`)

// sessionName names the role session after the execution, so that CloudTrail in the
// environment's account says which execution made each call.
func sessionName(env deploy.Environment) string {
	name := "sluice-" + env.Route + "-" + env.Name
	if env.Execution != "" {
		name = "sluice-" + env.Execution
	}
	name = notSessionChar.ReplaceAllString(name, "-")
	return name[:min(len(name), 64)]
}

// session returns env's clients, signing with credentials of the role assumed in env's account
// for this execution. The credentials are cached and refreshed before they expire.
func (p *Provider) session(ctx context.Context, env deploy.Environment, t *Target) (*session, error) {
	tooling, err := p.toolingConfig(ctx)
	if err != nil {
		return nil, err
	}
	role := roleARN(env.Route, t)
	key := sessionKey{t.Account, t.Region, role, t.ExternalID, sessionName(env)}
	p.mu.Lock()
	defer p.mu.Unlock()
	if s, ok := p.sessions[key]; ok {
		s.used = time.Now()
		return s, nil
	}
	// An engine that runs for weeks names a session per execution: forget those unused for a
	// while (their credentials expired long ago).
	for k, old := range p.sessions {
		if time.Since(old.used) > 6*time.Hour {
			delete(p.sessions, k)
		}
	}
	stsCfg := tooling.Copy()
	stsCfg.Region = t.Region
	assume := stscreds.NewAssumeRoleProvider(sts.NewFromConfig(stsCfg), role, func(o *stscreds.AssumeRoleOptions) {
		o.RoleSessionName = key.name
		o.Duration = time.Hour
		if t.ExternalID != "" {
			o.ExternalID = &t.ExternalID
		}
	})
	cfg := tooling.Copy()
	cfg.Region = t.Region
	cfg.Credentials = sdk.NewCredentialsCache(assume, func(o *sdk.CredentialsCacheOptions) {
		o.ExpiryWindow = 5 * time.Minute
	})
	s := &session{
		used:    time.Now(),
		roleARN: role,
		cfn:     cloudformation.NewFromConfig(cfg),
		lambda:  lambda.NewFromConfig(cfg),
		cw:      cloudwatch.NewFromConfig(cfg),
		cd:      codedeploy.NewFromConfig(cfg),
	}
	p.sessions[key] = s
	return s, nil
}

// artifactClient is an S3 client of the tooling account, which owns the artifact buckets, for
// the bucket of region: Lambda reads code only from a bucket in its own region, so an
// environment's artifact_bucket is in the environment's region.
func (p *Provider) artifactClient(ctx context.Context, region string) (*s3.Client, error) {
	tooling, err := p.toolingConfig(ctx)
	if err != nil {
		return nil, err
	}
	cfg := tooling.Copy()
	cfg.Region = region
	return s3.NewFromConfig(cfg, func(o *s3.Options) {
		// A fake or LocalStack behind one endpoint serves buckets by path, not by host name.
		o.UsePathStyle = os.Getenv("AWS_ENDPOINT_URL") != "" || os.Getenv("AWS_ENDPOINT_URL_S3") != ""
	}), nil
}

// Close lets go of the cached sessions; nothing runs in the background between deployments.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	clear(p.sessions)
	return nil
}

// wait calls done until it reports true or fails, waiting between calls from p.poll doubling
// to p.pollMax, and gives up with ETIMEOUT after limit.
func (p *Provider) wait(ctx context.Context, limit time.Duration, what string, done func() (bool, error)) error {
	deadline := time.Now().Add(limit)
	delay := p.poll
	for {
		ok, err := done()
		if err != nil || ok {
			return err
		}
		if time.Now().After(deadline) {
			return sluice.Errorf(sluice.ETIMEOUT, "%s took longer than %s", what, limit)
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return context.Cause(ctx)
		case <-t.C:
		}
		delay = min(delay*2, p.pollMax)
	}
}

var _ deploy.Provider = (*Provider)(nil)
