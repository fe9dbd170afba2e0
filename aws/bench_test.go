package aws_test

import (
	"context"
	"testing"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/aws"
	"github.com/sluicehq/sluice/deploy"
	"github.com/sluicehq/sluice/internal/fakeaws"
)

// BenchmarkDeployment deploys a new version of the function through a change set and shifts
// its alias in steps (linear 25%: four weights), against the fake. It reports the AWS calls each
// deployment makes, per service: each costs money and counts toward throttling.
//
//	go test -run '^$' -bench BenchmarkDeployment -benchtime 20x ./aws
func BenchmarkDeployment(b *testing.B) {
	w := newWorld(b)
	env := w.env(devAcct, "dev", "bench", nil)
	live := version(w.build(b, "v0"), allAtOnce)
	w.deploy(b, env, nil, live)
	digests := []string{w.build(b, "a"), w.build(b, "b")}
	before := len(w.fake.Calls())
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		next := version(digests[i%2], sluice.Strategy{Type: sluice.Linear, Percent: 25, Interval: time.Millisecond})
		w.deploy(b, env, &live, next)
		live = next
	}
	b.StopTimer()
	perService := map[string]int{}
	for _, c := range w.fake.Calls()[before:] {
		perService[c.Service]++
	}
	total := 0
	for service, n := range perService {
		b.ReportMetric(float64(n)/float64(b.N), service+"-calls/op")
		total += n
	}
	b.ReportMetric(float64(total)/float64(b.N), "aws-calls/op")
}

// BenchmarkAlarmReaction measures, with alarms read every 50 ms, the time from a CloudWatch
// alarm going to ALARM in the middle of a shift to the alias back on the old version: at most one
// read interval of waiting, then one DescribeAlarms and one UpdateAlias.
//
//	go test -run '^$' -bench BenchmarkAlarmReaction -benchtime 10x ./aws
func BenchmarkAlarmReaction(b *testing.B) {
	w := newWorld(b)
	if err := w.fake.PutAlarm(devAcct, region, fakeaws.Alarm{Name: "orders-5xx", Namespace: "AWS/Lambda", MetricName: "Errors", Threshold: 1}); err != nil {
		b.Fatal(err)
	}
	env := w.env(devAcct, "dev", "bench", func(tg *aws.Target) {
		tg.Alarms = []string{"orders-5xx"}
		tg.MetricsInterval = 50 * time.Millisecond
	})
	live := version(w.build(b, "v0"), allAtOnce)
	w.deploy(b, env, nil, live)
	fn := functionOf(b, w, devAcct)
	digests := []string{w.build(b, "a"), w.build(b, "b")}
	var total time.Duration
	for i := 0; i < b.N; i++ {
		next := version(digests[i%2], sluice.Strategy{Type: sluice.Linear, Percent: 10, Interval: time.Hour})
		cs, err := w.p.Prepare(context.Background(), env, &live, next)
		if err != nil {
			b.Fatal(err)
		}
		done := make(chan deploy.Result, 1)
		go func() {
			res, _ := w.p.Apply(context.Background(), w.request(cs, env))
			done <- res
		}()
		steps := len(w.fake.AliasHistory(devAcct, region, fn, "live"))
		for len(w.fake.AliasHistory(devAcct, region, fn, "live")) == steps {
			time.Sleep(time.Millisecond)
		}
		start := time.Now()
		if err := w.fake.SetAlarmState(devAcct, region, "orders-5xx", "ALARM", "Threshold Crossed"); err != nil {
			b.Fatal(err)
		}
		for len(w.fake.AliasHistory(devAcct, region, fn, "live")) == steps+1 {
			time.Sleep(100 * time.Microsecond)
		}
		total += time.Since(start)
		if res := <-done; res.Status != sluice.StatusRolledBack {
			b.Fatalf("result %+v, want rolled back", res)
		}
		if err := w.fake.SetAlarmState(devAcct, region, "orders-5xx", "OK", "back to normal"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(total.Microseconds())/1000/float64(b.N), "ms-to-restore/op")
}
