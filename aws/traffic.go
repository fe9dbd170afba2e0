package aws

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudwatch"
	cwtypes "github.com/aws/aws-sdk-go-v2/service/cloudwatch/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	lambdatypes "github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/rollout"
)

// aliasTraffic is a Lambda alias as the rollout driver moves it: the alias's main version is the
// old one until the shift ends, and the new version gets its share through
// RoutingConfig.AdditionalVersionWeights. In the background it reads the named CloudWatch alarms
// and the new version's own metrics (the ExecutedVersion dimension) every metrics interval.
type aliasTraffic struct {
	s         *session
	fn, alias string
	old, new  string
	exists    bool   // the alias exists: SetWeight updates it rather than creating it
	onLatest  bool   // it pointed at $LATEST before the deployment
	moved     func() // told after each change of the alias (may be nil)
	alarms    []string
	windows   []time.Duration // the windows the route's metric alarms judge
	interval  time.Duration
	logf      func(string, ...any)
	changed   chan struct{}
	mu        sync.Mutex
	measured  map[time.Duration]rollout.Window
	breach    *sluice.Rollback
}

func newAliasTraffic(s *session, t *Target, fn, old, newVersion string, alarms []sluice.Alarm, logf func(string, ...any)) *aliasTraffic {
	tr := &aliasTraffic{s: s, fn: fn, alias: t.Alias, old: old, new: newVersion, alarms: t.Alarms, interval: t.MetricsInterval,
		logf: logf, changed: make(chan struct{}, 1), measured: map[time.Duration]rollout.Window{}}
	for _, a := range alarms {
		if !slices.Contains(tr.windows, a.Window) {
			tr.windows = append(tr.windows, a.Window)
		}
	}
	return tr
}

// SetWeight sends percent of the alias's invocations to the new version.
func (tr *aliasTraffic) SetWeight(ctx context.Context, percent int) error {
	main, weights := tr.old, map[string]float64{}
	switch {
	case percent >= 100:
		main = tr.new
	case percent <= 0 && tr.old == "" && tr.exists && tr.onLatest:
		// The template made the alias on $LATEST (for the API to reference it): put it back
		// there rather than delete what the stack owns.
		main = "$LATEST"
	case percent <= 0 && tr.old == "":
		// Nothing served before: the alias goes, so nothing reaches the new version.
		_, err := tr.s.lambda.DeleteAlias(ctx, &lambda.DeleteAliasInput{FunctionName: &tr.fn, Name: &tr.alias})
		if err != nil && !notFound(err) {
			return fmt.Errorf("delete alias %s of %s: %w", tr.alias, tr.fn, err)
		}
		tr.exists = false
		return nil
	case percent <= 0:
	default:
		if tr.old == "" {
			main = tr.new // a first version takes everything; there is nothing to split with
		} else {
			weights[tr.new] = float64(percent) / 100
		}
	}
	var err error
	if tr.exists {
		routing := &lambdatypes.AliasRoutingConfiguration{AdditionalVersionWeights: weights}
		_, err = tr.s.lambda.UpdateAlias(ctx, &lambda.UpdateAliasInput{FunctionName: &tr.fn, Name: &tr.alias, FunctionVersion: &main, RoutingConfig: routing})
	} else {
		_, err = tr.s.lambda.CreateAlias(ctx, &lambda.CreateAliasInput{FunctionName: &tr.fn, Name: &tr.alias, FunctionVersion: &main,
			Description: ptr("Served by Sluice")})
		tr.exists = err == nil
	}
	if err != nil {
		return fmt.Errorf("set alias %s of %s to %d%% on version %s: %w", tr.alias, tr.fn, percent, tr.new, explain(err))
	}
	if tr.moved != nil {
		tr.moved()
	}
	return nil
}

// Window returns what the new version measured over d, as of the last read.
func (tr *aliasTraffic) Window(d time.Duration) rollout.Window {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	return tr.measured[d]
}

func (tr *aliasTraffic) Changed() <-chan struct{} { return tr.changed }

// Breach returns the first named CloudWatch alarm found in ALARM, as of the last read.
func (tr *aliasTraffic) Breach() *sluice.Rollback {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	if tr.breach == nil {
		return nil
	}
	rb := *tr.breach
	return &rb
}

// watch reads alarms and metrics at once and then every interval until the returned stop is
// called.
func (tr *aliasTraffic) watch(ctx context.Context) (stop func()) {
	if len(tr.alarms) == 0 && len(tr.windows) == 0 {
		return func() {}
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		ticker := time.NewTicker(tr.interval)
		defer ticker.Stop()
		for {
			tr.read(ctx)
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
		}
	}()
	return func() { cancel(); <-done }
}

// read reads the alarms and the metrics once and wakes the driver.
func (tr *aliasTraffic) read(ctx context.Context) {
	breach, err1 := tr.readAlarms(ctx)
	measured, err2 := tr.readMetrics(ctx)
	if err := errors.Join(err1, err2); err != nil && ctx.Err() == nil {
		tr.logf("reading CloudWatch failed, alarms are judged on the last reading: %v", err)
	}
	tr.mu.Lock()
	if breach != nil && tr.breach == nil {
		tr.breach = breach
	}
	for d, w := range measured {
		tr.measured[d] = w
	}
	tr.mu.Unlock()
	select {
	case tr.changed <- struct{}{}:
	default:
	}
}

func (tr *aliasTraffic) readAlarms(ctx context.Context) (*sluice.Rollback, error) {
	if len(tr.alarms) == 0 {
		return nil, nil
	}
	out, err := tr.describeAlarms(ctx)
	if err != nil {
		return nil, err
	}
	for _, name := range tr.alarms { // in the route's order: the first listed is reported
		for _, a := range out.MetricAlarms {
			if deref(a.AlarmName) != name || a.StateValue != cwtypes.StateValueAlarm {
				continue
			}
			rb := &sluice.Rollback{Cause: sluice.CauseAlarm, Alarm: name, Detail: deref(a.StateReason)}
			if a.Threshold != nil {
				rb.Threshold = *a.Threshold
			}
			rb.Value = lastDatapoint(deref(a.StateReasonData))
			if a.StateUpdatedTimestamp != nil {
				rb.BreachedAt = a.StateUpdatedTimestamp.UTC()
			}
			if a.MetricName != nil {
				rb.Metric = sluice.Metric(*a.MetricName)
			}
			return rb, nil
		}
		for _, a := range out.CompositeAlarms {
			if deref(a.AlarmName) == name && a.StateValue == cwtypes.StateValueAlarm {
				return &sluice.Rollback{Cause: sluice.CauseAlarm, Alarm: name, Detail: deref(a.StateReason)}, nil
			}
		}
	}
	return nil, nil
}

// check finds every named alarm before the shift begins, so a misspelt name is an error rather
// than no protection, and returns how long CloudWatch needs to judge them: the longest
// Period × EvaluationPeriods of the metric alarms.
func (tr *aliasTraffic) check(ctx context.Context) (time.Duration, error) {
	if len(tr.alarms) == 0 {
		return 0, nil
	}
	out, err := tr.describeAlarms(ctx)
	if err != nil {
		return 0, err
	}
	found := map[string]bool{}
	var judge time.Duration
	for _, a := range out.MetricAlarms {
		found[deref(a.AlarmName)] = true
		if a.Period != nil && a.EvaluationPeriods != nil {
			judge = max(judge, time.Duration(*a.Period)*time.Duration(*a.EvaluationPeriods)*time.Second)
		}
	}
	for _, a := range out.CompositeAlarms {
		found[deref(a.AlarmName)] = true
	}
	for _, name := range tr.alarms {
		if !found[name] {
			return 0, sluice.Errorf(sluice.EINVALID, "CloudWatch alarm %s does not exist in this account and region; create it (the template can) or fix cloudwatch_alarms", name)
		}
	}
	return judge, nil
}

// describeAlarms reads the named alarms, metric and composite ones alike.
func (tr *aliasTraffic) describeAlarms(ctx context.Context) (*cloudwatch.DescribeAlarmsOutput, error) {
	out, err := tr.s.cw.DescribeAlarms(ctx, &cloudwatch.DescribeAlarmsInput{AlarmNames: tr.alarms,
		AlarmTypes: []cwtypes.AlarmType{cwtypes.AlarmTypeMetricAlarm, cwtypes.AlarmTypeCompositeAlarm}})
	if err != nil {
		return nil, fmt.Errorf("describe alarms %s: %w", strings.Join(tr.alarms, ", "), explain(err))
	}
	return out, nil
}

// lastDatapoint is the newest value in an alarm's StateReasonData, 0 when it has none.
func lastDatapoint(data string) float64 {
	var d struct {
		RecentDatapoints []float64 `json:"recentDatapoints"`
	}
	if json.Unmarshal([]byte(data), &d) != nil || len(d.RecentDatapoints) == 0 {
		return 0
	}
	return d.RecentDatapoints[len(d.RecentDatapoints)-1]
}

// readMetrics reads, for each alarm window, the new version's invocations, errors and p99
// duration through the alias.
func (tr *aliasTraffic) readMetrics(ctx context.Context) (map[time.Duration]rollout.Window, error) {
	if len(tr.windows) == 0 {
		return nil, nil
	}
	now := time.Now().UTC()
	dims := []cwtypes.Dimension{
		{Name: ptr("FunctionName"), Value: &tr.fn},
		{Name: ptr("Resource"), Value: ptr(tr.fn + ":" + tr.alias)},
		{Name: ptr("ExecutedVersion"), Value: &tr.new},
	}
	out := map[time.Duration]rollout.Window{}
	// Each window is read over its own span: a 1m alarm must not be judged on 5m of data.
	for _, d := range tr.windows {
		period := int32(max(60, int(math.Ceil(d.Seconds()/60))*60))
		var queries []cwtypes.MetricDataQuery
		for _, m := range []struct{ id, name, stat string }{{"inv", "Invocations", "Sum"}, {"err", "Errors", "Sum"}, {"p99", "Duration", "p99"}} {
			queries = append(queries, cwtypes.MetricDataQuery{
				Id: ptr(m.id),
				MetricStat: &cwtypes.MetricStat{
					Metric: &cwtypes.Metric{Namespace: ptr("AWS/Lambda"), MetricName: ptr(m.name), Dimensions: dims},
					Period: &period, Stat: ptr(m.stat),
				},
			})
		}
		sums, peaks := map[string]float64{}, map[string]float64{}
		var next *string
		for {
			res, err := tr.s.cw.GetMetricData(ctx, &cloudwatch.GetMetricDataInput{
				MetricDataQueries: queries, StartTime: ptr(now.Add(-d)), EndTime: &now, NextToken: next,
			})
			if err != nil {
				return nil, fmt.Errorf("get metric data: %w", err)
			}
			for _, r := range res.MetricDataResults {
				for _, v := range r.Values {
					sums[deref(r.Id)] += v
					peaks[deref(r.Id)] = max(peaks[deref(r.Id)], v)
				}
			}
			if res.NextToken == nil {
				break
			}
			next = res.NextToken
		}
		out[d] = rollout.Window{Span: d, Requests: int64(sums["inv"]), Errors: int64(sums["err"]),
			P99: time.Duration(peaks["p99"] * float64(time.Millisecond))}
	}
	return out, nil
}

var _ deploy.Watcher = (*aliasTraffic)(nil)
