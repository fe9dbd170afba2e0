// Command testfunc is a Lambda function written with aws-lambda-go, built by lambdarun's tests
// as a real bootstrap (go build -tags lambda.norpc). Its event says what to do.
package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-lambda-go/lambdacontext"
)

// event selects a behaviour: echo (default), fail, panic, exit, sleep, big, or wait (mark
// Dir as started, then wait until Dir/release exists).
type event struct {
	Action string `json:"action"`
	Value  string `json:"value"`
	Dir    string `json:"dir"`
}

type reply struct {
	Value      string            `json:"value"`
	PID        int               `json:"pid"`
	RequestID  string            `json:"request_id"`
	ARN        string            `json:"arn"`
	DeadlineMS int64             `json:"deadline_ms"`
	Env        map[string]string `json:"env"`
	Big        string            `json:"big,omitempty"`
}

func handle(ctx context.Context, ev event) (reply, error) {
	lc, _ := lambdacontext.FromContext(ctx)
	deadline, _ := ctx.Deadline()
	r := reply{Value: ev.Value, PID: os.Getpid(), RequestID: lc.AwsRequestID, ARN: lc.InvokedFunctionArn,
		DeadlineMS: deadline.UnixMilli(), Env: map[string]string{}}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		r.Env[k] = v
	}
	switch ev.Action {
	case "fail":
		return reply{}, errors.New("it failed: " + ev.Value)
	case "panic":
		panic("boom: " + ev.Value)
	case "exit":
		os.Exit(3)
	case "sleep":
		time.Sleep(time.Hour)
	case "big":
		r.Big = strings.Repeat("x", 7<<20)
	case "wait":
		os.WriteFile(filepath.Join(ev.Dir, "started-"+strconv.Itoa(os.Getpid())), nil, 0o644)
		for {
			if _, err := os.Stat(filepath.Join(ev.Dir, "release")); err == nil {
				break
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	return r, nil
}

func main() {
	lambda.Start(handle)
}
