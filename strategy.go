package sluice

import (
	"fmt"
	"sort"
	"time"
)

// StrategyType is how a deployment moves traffic to a new version.
type StrategyType string

// Strategy types, as in AWS CodeDeploy (plus blue-green, as in ECS).
const (
	AllAtOnce StrategyType = "all-at-once" // all traffic at once, after health
	Canary    StrategyType = "canary"      // Percent, then the rest after Interval
	Linear    StrategyType = "linear"      // Percent more every Interval
	BlueGreen StrategyType = "blue-green"  // start new, health, switch all, drain old
)

// Strategy is a traffic-shifting strategy. Name is the CodeDeploy predefined name it came from,
// or "" for a custom one.
type Strategy struct {
	Name     string        `json:"name,omitempty"`
	Type     StrategyType  `json:"type"`
	Percent  int           `json:"percent,omitempty"`  // 1..100; used by canary and linear
	Interval time.Duration `json:"interval,omitempty"` // used by canary and linear
}

// String returns the predefined name, or a readable custom form such as "linear 10% every 30s".
func (s Strategy) String() string {
	switch {
	case s.Name != "":
		return s.Name
	case s.Type == Canary:
		return fmt.Sprintf("canary %d%% then all after %s", s.Percent, s.Interval)
	case s.Type == Linear:
		return fmt.Sprintf("linear %d%% every %s", s.Percent, s.Interval)
	}
	return string(s.Type)
}

// PredefinedStrategies are AWS CodeDeploy's predefined deployment configurations, by name.
var PredefinedStrategies = map[string]Strategy{
	"AllAtOnce":                     {Name: "AllAtOnce", Type: AllAtOnce},
	"BlueGreen":                     {Name: "BlueGreen", Type: BlueGreen},
	"Canary10Percent5Minutes":       {Name: "Canary10Percent5Minutes", Type: Canary, Percent: 10, Interval: 5 * time.Minute},
	"Canary10Percent10Minutes":      {Name: "Canary10Percent10Minutes", Type: Canary, Percent: 10, Interval: 10 * time.Minute},
	"Canary10Percent15Minutes":      {Name: "Canary10Percent15Minutes", Type: Canary, Percent: 10, Interval: 15 * time.Minute},
	"Canary10Percent30Minutes":      {Name: "Canary10Percent30Minutes", Type: Canary, Percent: 10, Interval: 30 * time.Minute},
	"Linear10PercentEvery1Minute":   {Name: "Linear10PercentEvery1Minute", Type: Linear, Percent: 10, Interval: time.Minute},
	"Linear10PercentEvery2Minutes":  {Name: "Linear10PercentEvery2Minutes", Type: Linear, Percent: 10, Interval: 2 * time.Minute},
	"Linear10PercentEvery3Minutes":  {Name: "Linear10PercentEvery3Minutes", Type: Linear, Percent: 10, Interval: 3 * time.Minute},
	"Linear10PercentEvery10Minutes": {Name: "Linear10PercentEvery10Minutes", Type: Linear, Percent: 10, Interval: 10 * time.Minute},
}

// StrategyNames returns the predefined strategy names, sorted.
func StrategyNames() []string {
	names := make([]string, 0, len(PredefinedStrategies))
	for name := range PredefinedStrategies {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}

// Metric names what an alarm watches, measured on the new version's traffic.
type Metric string

// Metrics an alarm may watch.
const (
	MetricErrorRate  Metric = "error_rate"  // 5xx responses / requests, 0..1
	MetricErrors     Metric = "errors"      // count of 5xx responses
	MetricLatencyP99 Metric = "latency_p99" // seconds
)

// Metrics lists the known metrics in documentation order.
var Metrics = []Metric{MetricErrorRate, MetricErrors, MetricLatencyP99}

// Alarm is a condition on live metrics that, when breached during a deployment, rolls it back.
// It is breached when Metric over the last Window is above Threshold.
type Alarm struct {
	Name      string        `json:"name"`
	Metric    Metric        `json:"metric"`
	Threshold float64       `json:"threshold"`
	Window    time.Duration `json:"window"`
	// MinRequests is how many requests the window must hold before a rate or percentile is
	// judged. If zero, 1 is used.
	MinRequests int `json:"min_requests,omitempty"`
}
