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
// are kept). Versions come in ID order so that the output is stable. To write the routers of
// several environments into one exposition, use the function WriteMetrics: the format allows
// one HELP and TYPE line per metric family, so two calls of this method cannot be joined.
func (rt *Router) WriteMetrics(w io.Writer, env string) error {
	return WriteMetrics(w, []Environment{{Name: env, Router: rt}})
}

// Environment names the router of one environment, for WriteMetrics.
type Environment struct {
	Name   string
	Router *Router
}

// WriteMetrics writes the metrics of every environment's router (see Router.WriteMetrics) as one
// valid exposition: each metric family once, with the series of every environment, in the
// order given, under it.
func WriteMetrics(w io.Writer, envs []Environment) error {
	var versions []metricsVersion
	for _, env := range envs {
		versions = append(versions, env.Router.metricsVersions(env.Name)...)
	}
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

// metricsVersion is one version's series as WriteMetrics writes them.
type metricsVersion struct {
	id     string
	labels string // environment and version, escaped once
	stats  *versionStats
	weight int
}

// metricsVersions returns the router's versions in ID order, labelled with environment env.
func (rt *Router) metricsVersions(env string) []metricsVersion {
	envLabel := `environment="` + escapeLabel(env) + `",version="`
	rt.mu.Lock()
	t := rt.table.Load() // under the lock, so weights and stats come from the same SetRoutes
	versions := make([]metricsVersion, 0, len(rt.stats))
	for id, s := range rt.stats {
		v := metricsVersion{id: id, labels: envLabel + escapeLabel(id) + `"`, stats: s}
		if b := t.find(id); b != nil {
			v.weight = b.weight
		}
		versions = append(versions, v)
	}
	rt.mu.Unlock()
	slices.SortFunc(versions, func(a, b metricsVersion) int { return strings.Compare(a.id, b.id) })
	return versions
}

// labelEscaper escapes a label value as the text format requires: backslash, quote, newline.
var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

func escapeLabel(s string) string { return labelEscaper.Replace(s) }
