package router

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/sluicehq/sluice/rollout"
)

var codeClasses = [6]string{"other", "1xx", "2xx", "3xx", "4xx", "5xx"}

// WriteMetrics writes every version's counters in the Prometheus text exposition format, each
// series labelled with environment env and the version:
//
//	sluice_requests_total{environment,version,code_class}   counter
//	sluice_request_duration_seconds{environment,version}     histogram (rollout.LatencyBounds)
//	sluice_in_flight{environment,version}                    gauge
//	sluice_route_weight{environment,version}                 gauge; 0 for a version not routed
//
// Versions no longer routed are written until they are forgotten (the 8 most recently removed
// are kept). Versions come in ID order so that the output is stable.
func (rt *Router) WriteMetrics(w io.Writer, env string) error {
	type version struct {
		id     string
		labels string // environment and version, escaped once
		stats  *versionStats
		weight int
	}
	envLabel := `environment="` + escapeLabel(env) + `",version="`
	rt.mu.Lock()
	t := rt.table.Load() // under the lock, so weights and stats come from the same SetRoutes
	versions := make([]version, 0, len(rt.stats))
	for id, s := range rt.stats {
		v := version{id: id, labels: envLabel + escapeLabel(id) + `"`, stats: s}
		if b := t.find(id); b != nil {
			v.weight = b.weight
		}
		versions = append(versions, v)
	}
	rt.mu.Unlock()
	slices.SortFunc(versions, func(a, b version) int { return strings.Compare(a.id, b.id) })

	var buf bytes.Buffer

	buf.WriteString("# HELP sluice_requests_total Responses given by each version, by status class.\n")
	buf.WriteString("# TYPE sluice_requests_total counter\n")
	for _, v := range versions {
		for class, name := range codeClasses {
			n := v.stats.classes[class].Load()
			if n == 0 && class != 2 && class != 5 {
				continue // 2xx and 5xx always, so an error rate has both sides from the start
			}
			fmt.Fprintf(&buf, "sluice_requests_total{%s,code_class=%q} %d\n", v.labels, name, n)
		}
	}

	buf.WriteString("# HELP sluice_request_duration_seconds Time from picking a version to the end of its response.\n")
	buf.WriteString("# TYPE sluice_request_duration_seconds histogram\n")
	bounds := rollout.LatencyBounds()
	for _, v := range versions {
		l := v.labels
		var cumulative uint64
		for i := range rollout.LatencyBuckets {
			cumulative += v.stats.latency[i].Load()
			le := "+Inf"
			if i < len(bounds) {
				le = strconv.FormatFloat(bounds[i].Seconds(), 'f', -1, 64)
			}
			fmt.Fprintf(&buf, "sluice_request_duration_seconds_bucket{%s,le=%q} %d\n", l, le, cumulative)
		}
		sum := float64(v.stats.sumNanos.Load()) / 1e9
		fmt.Fprintf(&buf, "sluice_request_duration_seconds_sum{%s} %s\n", l, strconv.FormatFloat(sum, 'f', -1, 64))
		fmt.Fprintf(&buf, "sluice_request_duration_seconds_count{%s} %d\n", l, cumulative)
	}

	buf.WriteString("# HELP sluice_in_flight Requests each version is answering now.\n")
	buf.WriteString("# TYPE sluice_in_flight gauge\n")
	for _, v := range versions {
		fmt.Fprintf(&buf, "sluice_in_flight{%s} %d\n", v.labels, v.stats.inFlight.Load())
	}

	buf.WriteString("# HELP sluice_route_weight Each version's share of new requests, out of the sum of weights.\n")
	buf.WriteString("# TYPE sluice_route_weight gauge\n")
	for _, v := range versions {
		fmt.Fprintf(&buf, "sluice_route_weight{%s} %d\n", v.labels, v.weight)
	}

	if _, err := w.Write(buf.Bytes()); err != nil {
		return fmt.Errorf("write metrics: %w", err)
	}
	return nil
}

// labelEscaper escapes a label value as the text format requires: backslash, quote, newline.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
