package aws

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cfntypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/internal/awsclient"
)

// StackApply is one stack deployed the way Sluice deploys an environment: through a change set
// that is shown and confirmed before it is executed, or deleted.
type StackApply struct {
	// Config signs every call: credentials of the account the stack belongs to, and its region.
	Config   sdk.Config
	Stack    string
	Template []byte
	// Show is given the change set's changes before Confirm is asked.
	Show func(changes []sluice.Change)
	// Confirm says whether to execute the change set; false deletes it.
	Confirm func() (bool, error)
	// Log narrates the stack's events while it changes (may be nil).
	Log func(format string, args ...any)
}

// Apply creates the change set, shows it, and executes it when confirmed. It returns nil when
// the stack already matched the template, and ECONFLICT when the change set was not confirmed.
func (a StackApply) Apply(ctx context.Context) error {
	logf := a.Log
	if logf == nil {
		logf = func(string, ...any) {}
	}
	p := New(deploy.Host{}) // its waits and narration; the session below is given, not assumed
	s := &session{cfn: cloudformation.NewFromConfig(a.Config)}
	stack, err := p.describeStack(ctx, s, a.Stack)
	if err != nil {
		return err
	}
	if err := usable(a.Stack, stack); err != nil {
		return err
	}
	d := &Detail{Region: a.Config.Region, Stack: a.Stack, Type: "UPDATE"}
	if stack == nil || stack.StackStatus == cfntypes.StackStatusReviewInProgress {
		d.Type = "CREATE"
	}
	sum := sha256.Sum256(a.Template)
	d.TemplateSHA256 = hex.EncodeToString(sum[:])
	d.ChangeSet = changeSetName(d)
	tags := []cfntypes.Tag{{Key: ptr("sluice:bootstrap"), Value: ptr(a.Stack)}}
	empty, err := p.createChangeSet(ctx, s, d, a.Template, "Sluice bootstrap", tags)
	if err != nil {
		return err
	}
	if empty {
		logf("stack %s already matches its template", a.Stack)
		return p.deleteChangeSet(ctx, s, d)
	}
	if d.Resources, err = p.describeChanges(ctx, s, d); err != nil {
		return err
	}
	if a.Show != nil {
		a.Show(changes(d.Resources))
	}
	ok, err := a.Confirm()
	if err != nil || !ok {
		if derr := p.deleteChangeSet(context.WithoutCancel(ctx), s, d); derr != nil {
			logf("%v", derr)
		}
		if err != nil {
			return err
		}
		return sluice.Errorf(sluice.ECONFLICT, "change set %s of stack %s was not confirmed and is deleted; nothing changed", d.ChangeSet, a.Stack)
	}
	token := "sluice-bootstrap-" + d.TemplateSHA256[:32]
	started := time.Now().Add(-time.Second)
	if _, err := s.cfn.ExecuteChangeSet(ctx, &cloudformation.ExecuteChangeSetInput{StackName: &d.Stack, ChangeSetName: &d.ChangeSet, ClientRequestToken: &token}); err != nil {
		return fmt.Errorf("execute change set %s of stack %s: %w", d.ChangeSet, d.Stack, explain(err))
	}
	failure, err := p.follow(ctx, s, d.Stack, token, started, logf, nil)
	if err != nil {
		return err
	}
	if failure != "" {
		return sluice.Errorf(sluice.ECONFLICT, "%s", strings.TrimSpace(failure))
	}
	return nil
}

// AccountConfig returns a configuration whose credentials are the given account's, in region:
// the SDK's default chain, or the profile SLUICE_AWS_PROFILE_<account> names. It checks with
// STS GetCallerIdentity that the credentials are that account's, and says how to fix it when
// they are not.
func AccountConfig(ctx context.Context, account, region string, lookupEnv func(string) (string, bool)) (sdk.Config, error) {
	opts := []func(*config.LoadOptions) error{config.WithRegion(region), awsclient.LoadOption()}
	variable := "SLUICE_AWS_PROFILE_" + account
	profile, named := lookupEnv(variable)
	if named && profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(profile))
	}
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return sdk.Config{}, sluice.Errorf(sluice.EINVALID, "read the AWS configuration for account %s: %v; set %s to a profile of that account", account, err, variable)
	}
	id, err := sts.NewFromConfig(cfg).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		return sdk.Config{}, fmt.Errorf("check the credentials for account %s: %w; set %s to a profile of that account", account, explain(err), variable)
	}
	if got := deref(id.Account); got != account {
		return sdk.Config{}, sluice.Errorf(sluice.EINVALID, "the credentials found are for account %s, not %s; set %s to a profile of account %s", got, account, variable, account)
	}
	return cfg, nil
}
