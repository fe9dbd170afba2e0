package lambdarun

import (
	"context"
	"testing"
)

// BenchmarkInvokeWarm is one invocation of an aws-lambda-go function whose sandbox is warm:
// the Runtime API's round trip, what each request of a demo pays.
func BenchmarkInvokeWarm(b *testing.B) {
	code := goFunction(b)
	f, err := Start(context.Background(), Config{Code: code, FunctionName: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	payload := []byte(`{"value":"x"}`)
	for b.Loop() {
		res, err := f.Invoke(context.Background(), payload)
		if err != nil || res.FunctionError != "" {
			b.Fatalf("%v %s", err, res.Payload)
		}
	}
}

// BenchmarkColdStart is Start, a first invocation (a bootstrap process started) and Close:
// what a newly published version costs before its first answer.
func BenchmarkColdStart(b *testing.B) {
	code := goFunction(b)
	payload := []byte(`{"value":"x"}`)
	for b.Loop() {
		f, err := Start(context.Background(), Config{Code: code, FunctionName: "bench"})
		if err != nil {
			b.Fatal(err)
		}
		res, err := f.Invoke(context.Background(), payload)
		if err != nil || res.FunctionError != "" {
			b.Fatalf("%v %s", err, res.Payload)
		}
		f.Close()
	}
}
