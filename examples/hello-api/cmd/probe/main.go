// Command probe checks a URL the way the route's hooks need: it sends GET requests and fails
// unless every answer is 200 and matches what was asked for. It needs nothing but Go, so the
// hooks do not depend on curl or wget being installed.
//
// Usage:
//
//	probe [-n COUNT] [-timeout D] [-body TEXT] [-contains TEXT] [-header NAME=VALUE] URL
//
// A URL without a scheme gets http://. It prints one summary line, then one line per distinct
// failure. Exit status: 0 when every request passed, 1 when any failed, 2 on bad usage.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"sort"
	"strings"
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

// expectation is what every answer must satisfy besides status 200.
type expectation struct {
	body        string // the whole body, surrounding space ignored; empty: not checked
	contains    string // a substring of the body; empty: not checked
	headerName  string // empty: not checked
	headerValue string
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("probe", flag.ContinueOnError)
	flags.SetOutput(stderr)
	count := flags.Int("n", 1, "how many requests to send, one after another")
	timeout := flags.Duration("timeout", 5*time.Second, "limit for each request")
	var want expectation
	flags.StringVar(&want.body, "body", "", "the body every answer must equal, ignoring surrounding space")
	flags.StringVar(&want.contains, "contains", "", "text every answer's body must contain")
	header := flags.String("header", "", "NAME=VALUE: a header every answer must carry with that value")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() != 1 {
		fmt.Fprintln(stderr, "probe: give exactly one URL, for example: probe -n 20 http://127.0.0.1:8080/")
		return 2
	}
	if *count < 1 || *timeout <= 0 {
		fmt.Fprintln(stderr, "probe: -n must be at least 1 and -timeout above zero")
		return 2
	}
	if *header != "" {
		name, value, ok := strings.Cut(*header, "=")
		if !ok || name == "" {
			fmt.Fprintf(stderr, "probe: -header %q: write it as NAME=VALUE\n", *header)
			return 2
		}
		want.headerName, want.headerValue = name, value
	}
	url := flags.Arg(0)
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}

	client := &http.Client{Timeout: *timeout}
	failures := map[string]int{}
	passed := 0
	for range *count {
		if err := check(ctx, client, url, want); err != nil {
			failures[err.Error()]++
			continue
		}
		passed++
	}
	fmt.Fprintf(stdout, "probe: GET %s: %d of %d passed%s\n", url, passed, *count, want.describe())
	if passed == *count {
		return 0
	}
	reasons := make([]string, 0, len(failures))
	for reason := range failures {
		reasons = append(reasons, reason)
	}
	sort.Strings(reasons)
	for _, reason := range reasons {
		fmt.Fprintf(stdout, "probe:   %d× %s\n", failures[reason], reason)
	}
	return 1
}

// check sends one request and says what, if anything, was wrong with the answer.
func check(ctx context.Context, client *http.Client, url string, want expectation) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("build request: %w", err)
	}
	resp, err := client.Do(req)
	if err != nil {
		// The *url.Error repeats the URL that the summary line already shows.
		if urlErr, ok := errors.AsType[*neturl.Error](err); ok {
			return urlErr.Err
		}
		return err
	}
	defer resp.Body.Close()
	// Bodies here are small; the limit only keeps a misbehaving server from exhausting memory.
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("read body: %w", err)
	}
	body := strings.TrimSpace(string(raw))
	switch {
	case resp.StatusCode != http.StatusOK:
		return fmt.Errorf("status %d, body %q", resp.StatusCode, clip(body))
	case want.body != "" && body != strings.TrimSpace(want.body):
		return fmt.Errorf("body %q, want %q", clip(body), want.body)
	case want.contains != "" && !strings.Contains(body, want.contains):
		return fmt.Errorf("body %q does not contain %q", clip(body), want.contains)
	case want.headerName != "" && resp.Header.Get(want.headerName) != want.headerValue:
		return fmt.Errorf("header %s: %q, want %q", want.headerName, resp.Header.Get(want.headerName), want.headerValue)
	}
	return nil
}

// describe says what was checked besides the status, for the summary line.
func (e expectation) describe() string {
	var parts []string
	if e.body != "" {
		parts = append(parts, fmt.Sprintf("body %q", e.body))
	}
	if e.contains != "" {
		parts = append(parts, fmt.Sprintf("body contains %q", e.contains))
	}
	if e.headerName != "" {
		parts = append(parts, fmt.Sprintf("header %s %q", e.headerName, e.headerValue))
	}
	if len(parts) == 0 {
		return " (status 200)"
	}
	return " (status 200, " + strings.Join(parts, ", ") + ")"
}

func clip(s string) string {
	const limit = 80
	if len(s) > limit {
		return s[:limit] + "..."
	}
	return s
}
