package cli

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"

	sdk "github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/aws"
	"github.com/sluicehq/sluice/cli/demo"
	"github.com/sluicehq/sluice/engine"
	"github.com/sluicehq/sluice/internal/awsclient"
	"github.com/sluicehq/sluice/internal/fakeaws"
	"github.com/sluicehq/sluice/spec"
)

// The simulated AWS of `sluice demo --aws`: the engine runs with the tooling account's
// credentials, as it would in a real tooling account, and assumes each environment's
// deployment role from there.
const (
	demoToolingAccount = "111122223333"
	// demoAlarmPeriod is the period the simulation evaluates every CloudWatch alarm over (the
	// template says 60s): a demo's minute is seconds, so that an alarm is back to OK soon after
	// a rollback.
	demoAlarmPeriod = 10 * time.Second
	// demoAlarmInterval is how often the simulation evaluates alarms.
	demoAlarmInterval = 500 * time.Millisecond
)

// serverlessRoute is the demo of examples/serverless-api against the built-in fake AWS.
func serverlessRoute() (*demoRoute, error) {
	if runtime.GOOS != "linux" {
		return nil, sluice.Errorf(sluice.EINVALID, "sluice demo --aws runs the example's Lambda function as a Linux executable, as Lambda's provided.al2023 runtime does, so it needs Linux (this is %s); run it in a Linux container or VM, or run sluice demo for the local route", runtime.GOOS)
	}
	sim := &awsSimulation{}
	return &demoRoute{
		name: "serverless-api", bundle: demo.ServerlessBundle,
		second: "which prod's live alias takes 10% every 2 seconds under load, watched by the alarms",
		// The template is the part of the artifact (dist/) a comment can change.
		releaseFile: "template.yaml", releaseComment: "# ",
		start:    sim.start,
		afterRun: sim.afterRun,
		explain:  sim.explain,
		json:     sim.json,
	}, nil
}

// awsSimulation is the fake AWS a demo runs against, and what it counted.
type awsSimulation struct {
	fake         *fakeaws.Server
	prod         *aws.Target // the last environment's target
	stack        string      // its stack
	counted      int         // calls already reported
	perRun       []map[string]int
	perOperation []map[string]int
	aliases      []aliasState // prod's alias after each run
	aliasSeen    int          // alias states already reported
	restored     []func()
}

// start builds the function for this machine, starts the fake AWS with the accounts, roles,
// bucket and key the route names, and points the engine at it the standard way.
func (a *awsSimulation) start(dir string, out io.Writer) (func(), error) {
	if err := hostArchitecture(dir, out); err != nil {
		return nil, err
	}
	src, err := os.ReadFile(filepath.Join(dir, "sluice.yaml"))
	if err != nil {
		return nil, err
	}
	route, diags := spec.Parse("sluice.yaml", src)
	if diags.HasErrors() {
		return nil, fmt.Errorf("the bundled serverless route does not parse:\n%s", diags.Error())
	}
	cfg := fakeaws.Config{
		Accounts:  []string{demoToolingAccount},
		Execution: &fakeaws.Execution{AlarmInterval: demoAlarmInterval, AlarmPeriod: demoAlarmPeriod},
	}
	var targets []*aws.Target
	for _, env := range route.Environments {
		t, ok := env.TargetConfig.(*aws.Target)
		if !ok {
			return nil, fmt.Errorf("environment %s of the bundled serverless route is not an aws target", env.Name)
		}
		targets = append(targets, t)
		role := t.Role
		if i := strings.LastIndex(role, ":role/"); i >= 0 {
			role = role[i+len(":role/"):] // an ARN in the environment's account
		}
		if role == "" {
			role = route.Name + "-" + t.Region + "-DeploymentRole"
		}
		cfg.Roles = append(cfg.Roles, fakeaws.Role{Account: t.Account, Name: role, Trusts: []string{demoToolingAccount}})
		a.prod, a.stack = t, t.Stack
		if a.stack == "" {
			a.stack = route.Name + "-" + env.Name
		}
	}
	if len(targets) == 0 {
		return nil, fmt.Errorf("the bundled serverless route has no environment")
	}
	// The function's output would drown the run's; it goes to a file in the demo folder.
	logFile, err := os.Create(filepath.Join(dir, ".sluice-lambda.log"))
	if err != nil {
		return nil, fmt.Errorf("create the functions' log: %w", err)
	}
	cfg.Execution.Log = logFile
	if a.fake, err = fakeaws.Start(cfg); err != nil {
		logFile.Close()
		return nil, fmt.Errorf("start the simulated AWS: %w", err)
	}
	stop := func() {
		for i := len(a.restored) - 1; i >= 0; i-- {
			a.restored[i]()
		}
		a.fake.Close()
		logFile.Close()
	}
	if err := a.provision(targets); err != nil {
		stop()
		return nil, err
	}
	keys, _ := a.fake.Root(demoToolingAccount)
	a.setenv(map[string]string{
		"AWS_ENDPOINT_URL": a.fake.URL, "AWS_ACCESS_KEY_ID": keys.AccessKeyID, "AWS_SECRET_ACCESS_KEY": keys.SecretAccessKey,
		"AWS_REGION": targets[0].Region, "AWS_EC2_METADATA_DISABLED": "true",
		// Nothing of this machine's AWS configuration may reach the simulation.
		"AWS_CONFIG_FILE": filepath.Join(dir, ".sluice-aws-config"), "AWS_SHARED_CREDENTIALS_FILE": filepath.Join(dir, ".sluice-aws-credentials"),
	})
	fmt.Fprintf(out, "demo: AWS here is a SIMULATION: Sluice's built-in fake AWS at %s, in this process. No AWS account is needed and no call leaves this machine.\n", a.fake.URL)
	fmt.Fprintf(out, "demo: simulated accounts: tooling %s (artifact bucket %s, KMS key %s)", demoToolingAccount, targets[0].ArtifactBucket, targets[0].ArtifactKMSKey)
	for i, env := range route.Environments {
		fmt.Fprintf(out, ", %s %s", env.Name, targets[i].Account)
	}
	fmt.Fprintf(out, "; each environment is deployed through its role %s, assumed from the tooling account. The functions run their real code; their output goes to %s.\n",
		cfg.Roles[0].Name, logFile.Name())
	return stop, nil
}

// provision creates what the tooling account holds before any route runs: the artifact KMS key
// and the bucket, which takes objects under that key only.
func (a *awsSimulation) provision(targets []*aws.Target) error {
	keys, _ := a.fake.Root(demoToolingAccount)
	s3c := s3.New(s3.Options{Region: targets[0].Region, BaseEndpoint: &a.fake.URL, UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, ""), APIOptions: awsclient.APIOptions()})
	buckets := map[string]bool{}
	keyARNs := map[string]string{}
	for _, t := range targets {
		if t.ArtifactBucket == "" || buckets[t.ArtifactBucket] {
			continue
		}
		buckets[t.ArtifactBucket] = true
		keyARN, ok := keyARNs[t.ArtifactKMSKey]
		if !ok {
			var err error
			if keyARN, err = a.fake.CreateKey(demoToolingAccount, t.Region, "Sluice artifacts", t.ArtifactKMSKey); err != nil {
				return fmt.Errorf("create the simulated KMS key %s: %w", t.ArtifactKMSKey, err)
			}
			keyARNs[t.ArtifactKMSKey] = keyARN
		}
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		_, err := s3c.CreateBucket(ctx, &s3.CreateBucketInput{Bucket: sdk.String(t.ArtifactBucket)})
		cancel()
		if err != nil {
			return fmt.Errorf("create the simulated artifact bucket %s: %w", t.ArtifactBucket, err)
		}
		a.fake.RequireSSEKMS(t.ArtifactBucket, keyARN)
	}
	return nil
}

// setenv sets the process's AWS settings for the simulation and clears the ones that would
// point elsewhere; stop puts them back.
func (a *awsSimulation) setenv(vars map[string]string) {
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "AWS_") {
			if _, ok := vars[k]; !ok {
				vars[k] = ""
			}
		}
	}
	for k, v := range vars {
		old, had := os.LookupEnv(k)
		if v == "" {
			os.Unsetenv(k)
		} else {
			os.Setenv(k, v)
		}
		a.restored = append(a.restored, func() {
			if had {
				os.Setenv(k, old)
			} else {
				os.Unsetenv(k)
			}
		})
	}
}

// hostArchitecture makes the route build the function for this machine's architecture: the
// simulation runs it here, where AWS would run it on the template's architecture.
func hostArchitecture(dir string, out io.Writer) error {
	if runtime.GOARCH == "amd64" {
		return nil
	}
	edits := []struct{ file, from, to string }{{"sluice.yaml", "GOARCH: amd64", "GOARCH: " + runtime.GOARCH}}
	if runtime.GOARCH == "arm64" {
		edits = append(edits, struct{ file, from, to string }{"template.yaml", "Architectures: [x86_64]", "Architectures: [arm64]"})
	}
	for _, e := range edits {
		path := filepath.Join(dir, e.file)
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		if !strings.Contains(string(b), e.from) {
			return fmt.Errorf("%s of the bundled serverless route does not say %q; the example changed", e.file, e.from)
		}
		if err := os.WriteFile(path, []byte(strings.Replace(string(b), e.from, e.to, 1)), 0o644); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "demo: the function is built for linux/%s, this machine, so that the simulation can run it\n", runtime.GOARCH)
	return nil
}

// afterRun reports the AWS calls the run made, per service.
func (a *awsSimulation) afterRun(out io.Writer, _ *engine.Snapshot) {
	calls := a.fake.Calls()
	perService, perOperation := map[string]int{}, map[string]int{}
	for _, c := range calls[a.counted:] {
		perService[c.Service]++
		perOperation[c.Service+":"+c.Operation]++
	}
	a.perOperation = append(a.perOperation, perOperation)
	a.counted = len(calls)
	a.perRun = append(a.perRun, perService)
	var parts []string
	total := 0
	for _, s := range slices.Sorted(maps.Keys(perService)) {
		parts = append(parts, fmt.Sprintf("%s %d", s, perService[s]))
		total += perService[s]
	}
	fmt.Fprintf(out, "  simulated AWS calls during the run: %d (%s)\n", total, strings.Join(parts, ", "))
	a.aliases = append(a.aliases, a.prodAlias())
}

// aliasState is where prod's alias was after a run, as the simulated Lambda holds it.
type aliasState struct {
	Function string `json:"function,omitempty"`
	Alias    string `json:"alias"`
	// Version is the version the alias serves; empty before it exists.
	Version string `json:"version,omitempty"`
	// Steps are the alias's states during the run, such as "1", "1+2@10%", "1".
	Steps []string `json:"steps"`
}

// prodAlias reads prod's alias and the states it went through since the last read.
func (a *awsSimulation) prodAlias() aliasState {
	st := aliasState{Alias: a.prod.Alias, Steps: []string{}}
	if st.Alias == "" {
		st.Alias = "live"
	}
	fn, err := a.fake.StackResource(a.prod.Account, a.prod.Region, a.stack, a.prod.Function)
	if err != nil {
		return st
	}
	st.Function = fn
	history := a.fake.AliasHistory(a.prod.Account, a.prod.Region, fn, st.Alias)
	for _, c := range history[min(a.aliasSeen, len(history)):] {
		step := c.FunctionVersion
		for _, v := range slices.Sorted(maps.Keys(c.Weights)) {
			step += fmt.Sprintf("+%s@%g%%", v, c.Weights[v]*100)
		}
		st.Steps = append(st.Steps, step)
	}
	a.aliasSeen = len(history)
	if len(history) > 0 {
		st.Version = history[len(history)-1].FunctionVersion
	}
	return st
}

// explain says which alarm put prod's alias back, on what value, how fast, and where the alias
// is now.
func (a *awsSimulation) explain(out io.Writer, snap *engine.Snapshot) {
	for _, env := range snap.Environments {
		d := env.LastDeployment
		if env.Name != "prod" || d == nil || d.Rollback == nil {
			continue
		}
		rb := d.Rollback
		if rb.Cause == sluice.CauseAlarm {
			fmt.Fprintf(out, "demo: prod's rollback: alarm %s saw %g (threshold %g)", rb.Alarm, rb.Value, rb.Threshold)
		} else {
			fmt.Fprintf(out, "demo: prod's rollback: %s (%s)", rb.Cause, rb.Detail)
		}
		if r := rb.Reaction(); r > 0 {
			fmt.Fprintf(out, "; the alias was back on the old version %s after the breach", r.Round(time.Millisecond))
		}
		fmt.Fprintln(out)
	}
	if n := len(a.aliases); n > 0 && a.aliases[n-1].Function != "" {
		st := a.aliases[n-1]
		fmt.Fprintf(out, "demo: prod's alias %s of %s moved %s during the run; it serves version %s\n", st.Alias, st.Function, strings.Join(st.Steps, " → "), st.Version)
	}
}

func (a *awsSimulation) json() map[string]any {
	return map[string]any{"aws": map[string]any{"simulation": true, "endpoint": a.fake.URL, "calls_per_run": a.perRun, "operations_per_run": a.perOperation, "prod_alias_per_run": a.aliases}}
}
