// Command trafficcheck is the prod environment's traffic hook: it checks the HTTP API at
// SLUICE_ENDPOINT, which Sluice sets to the stack's ApiUrl output. It needs nothing but Go, so
// the hooks do not depend on curl or wget.
//
//	trafficcheck pre   before the shift: /healthz answers ok three times out of three, so the
//	                   API, the alias and its permission are wired
//	trafficcheck post  all traffic on the new version: / answers a greeting 20 times out of 20,
//	                   each from the artifact being deployed (SLUICE_ARTIFACT) when it is set
//
// The alias keeps serving the old version until the shift starts, so the pre-traffic check
// reaches the old version: a new version that is healthy but broken gets its first share of
// traffic, and the alarm has to catch it, as it would a real regression.
//
// Exit status: 0 when every check passed, 1 when one failed, 2 on bad usage.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"time"
)

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) != 1 || (args[0] != "pre" && args[0] != "post") {
		fmt.Fprintln(stderr, "usage: trafficcheck pre|post (with SLUICE_ENDPOINT set to the API's URL)")
		return 2
	}
	base := strings.TrimRight(getenv("SLUICE_ENDPOINT"), "/")
	if base == "" {
		fmt.Fprintln(stderr, "trafficcheck: SLUICE_ENDPOINT is not set; Sluice sets it to the stack's ApiUrl when it runs the hook (by hand: SLUICE_ENDPOINT=https://ID.execute-api.REGION.amazonaws.com trafficcheck "+args[0]+")")
		return 2
	}
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	c := checker{client: &http.Client{Timeout: 10 * time.Second}, base: base}
	var err error
	if args[0] == "pre" {
		fmt.Fprintf(stdout, "pre_traffic: %s/healthz must answer ok 3 times\n", base)
		err = c.repeat(ctx, 3, "/healthz", func(body []byte) error {
			if strings.TrimSpace(string(body)) != "ok" {
				return fmt.Errorf("answered %q, not ok", body)
			}
			return nil
		})
	} else {
		artifact := getenv("SLUICE_ARTIFACT")
		fmt.Fprintf(stdout, "post_traffic: %s/ must answer a greeting 20 times from artifact %s\n", base, orAny(artifact))
		err = c.repeat(ctx, 20, "/", func(body []byte) error {
			var g struct{ Message, Artifact string }
			if json.Unmarshal(body, &g) != nil || !strings.HasPrefix(g.Message, "hello from ") {
				return fmt.Errorf("answered %q, not a greeting", body)
			}
			if artifact != "" && g.Artifact != "" && g.Artifact != artifact {
				return fmt.Errorf("was served by artifact %s, not %s", g.Artifact, artifact)
			}
			return nil
		})
	}
	if err != nil {
		fmt.Fprintf(stderr, "trafficcheck %s: %v\n", args[0], err)
		return 1
	}
	fmt.Fprintf(stdout, "trafficcheck %s: passed\n", args[0])
	return 0
}

func orAny(artifact string) string {
	if artifact == "" {
		return "(any: SLUICE_ARTIFACT is not set)"
	}
	return artifact
}

type checker struct {
	client *http.Client
	base   string
}

// repeat sends n GET requests for path; each must answer 200 with a body check accepts.
func (c checker) repeat(ctx context.Context, n int, path string, check func([]byte) error) error {
	for i := 1; i <= n; i++ {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.base+path, nil)
		if err != nil {
			return err
		}
		res, err := c.client.Do(req)
		if err != nil {
			return fmt.Errorf("request %d of %d: %w", i, n, err)
		}
		body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		res.Body.Close()
		if err != nil {
			return fmt.Errorf("request %d of %d: read the answer: %w", i, n, err)
		}
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("request %d of %d: GET %s answered %s: %s", i, n, path, res.Status, strings.TrimSpace(string(body)))
		}
		if err := check(body); err != nil {
			return fmt.Errorf("request %d of %d: GET %s %w", i, n, path, err)
		}
	}
	return nil
}
