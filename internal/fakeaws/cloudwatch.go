package fakeaws

import (
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"net/http"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/smithy-go/encoding/cbor"
)

// Alarm is a CloudWatch metric alarm as tests create it with Server.PutAlarm.
type Alarm struct {
	Name               string
	Namespace          string
	MetricName         string
	Dimensions         map[string]string
	Statistic          string  // if empty, Sum
	Period             int     // seconds; if zero, 60
	EvaluationPeriods  int     // if zero, 1
	Threshold          float64 // the value compared with the metric
	ComparisonOperator string  // if empty, GreaterThanThreshold
	// TreatMissingData is how Config.Execution's evaluation treats a period without data:
	// missing (the default: INSUFFICIENT_DATA), notBreaching, breaching or ignore.
	TreatMissingData string
}

// MetricPoint is one data point of a metric, as tests inject it with Server.PutMetric.
type MetricPoint struct {
	Namespace  string
	MetricName string
	Dimensions map[string]string // the exact set a query must name, as in CloudWatch
	Time       time.Time
	Value      float64
}

type alarm struct {
	Alarm
	arn           string
	state, reason string
	reasonData    string // StateReasonData, JSON
	updated       time.Time
}

var cloudWatchProtocol = &cborProtocol{
	service: "GraniteServiceVersion20100801",
	shapes:  "com.amazonaws.cloudwatch#",
	handlers: map[string]func(*request, any) (any, error){
		"DescribeAlarms": describeAlarms,
		"GetMetricData":  getMetricData,
	},
	// CloudWatch is awsQuery-compatible: the code the SDK reports is the query one.
	queryCodes: map[string]string{
		"InvalidParameterValueException":       "InvalidParameterValue",
		"MissingRequiredParameterException":    "MissingParameter",
		"InvalidParameterCombinationException": "InvalidParameterCombination",
		"InvalidNextToken":                     "InvalidNextToken",
	},
}

// cborProtocol is Smithy RPC v2 CBOR: POST /service/S/operation/O with CBOR bodies both ways.
type cborProtocol struct {
	service    string
	shapes     string // the namespace errors' __type carries
	handlers   map[string]func(*request, any) (any, error)
	queryCodes map[string]string
}

var cborPath = regexp.MustCompile(`^/service/([A-Za-z0-9]+)/operation/([A-Za-z0-9]+)$`)

func (p *cborProtocol) operation(r *request) string {
	m := cborPath.FindStringSubmatch(r.http.URL.Path)
	if m == nil || m[1] != p.service {
		return ""
	}
	return m[2]
}

func (p *cborProtocol) serve(r *request) (any, error) {
	if r.http.Method != http.MethodPost || r.http.Header.Get("Smithy-Protocol") != "rpc-v2-cbor" {
		return nil, errorf("SerializationException", "rpcv2Cbor requests are a POST with Smithy-Protocol: rpc-v2-cbor")
	}
	h := p.handlers[r.operation]
	if h == nil {
		return nil, &apiError{Code: "UnknownOperationException", Message: "unknown operation " + r.http.URL.Path, Status: 404}
	}
	var in any = map[string]any{}
	if len(r.body) > 0 {
		v, err := cbor.Decode(r.body)
		if err != nil {
			return nil, errorf("SerializationException", "the body is not CBOR: %v", err)
		}
		in = fromCBOR(v)
	}
	return h(r, in)
}

func (p *cborProtocol) writeResult(w http.ResponseWriter, r *request, result any) {
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("X-Amzn-RequestId", r.requestID)
	w.WriteHeader(http.StatusOK)
	w.Write(cbor.Encode(toCBOR(result)))
}

func (p *cborProtocol) writeError(w http.ResponseWriter, r *request, e *apiError) {
	shape, code := e.Code, e.Code
	if q, ok := p.queryCodes[e.Code]; ok {
		code = q
	}
	fault := "Sender"
	if e.Server {
		fault = "Receiver"
	}
	w.Header().Set("Smithy-Protocol", "rpc-v2-cbor")
	w.Header().Set("Content-Type", "application/cbor")
	w.Header().Set("X-Amzn-RequestId", r.requestID)
	w.Header().Set("X-Amzn-Query-Error", code+";"+fault)
	w.WriteHeader(e.status())
	w.Write(cbor.Encode(cbor.Map{"__type": cbor.String(p.shapes + shape), "message": cbor.String(e.Message)}))
}

func (p *cborProtocol) authError(f *authFailure) *apiError { return authError(queryAuthCodes, f) }

// fromCBOR turns a decoded CBOR value into plain Go values; a timestamp (tag 1) becomes a
// time.Time.
func fromCBOR(v cbor.Value) any {
	switch v := v.(type) {
	case cbor.Map:
		m := make(map[string]any, len(v))
		for k, x := range v {
			m[k] = fromCBOR(x)
		}
		return m
	case cbor.List:
		l := make([]any, len(v))
		for i, x := range v {
			l[i] = fromCBOR(x)
		}
		return l
	case cbor.String:
		return string(v)
	case cbor.Uint:
		return float64(v)
	case cbor.NegInt:
		return -float64(v)
	case cbor.Float32:
		return float64(v)
	case cbor.Float64:
		return float64(v)
	case cbor.Bool:
		return bool(v)
	case cbor.Slice:
		return []byte(v)
	case *cbor.Tag:
		if v.ID == 1 {
			if t, err := cbor.AsTime(v); err == nil {
				return t
			}
		}
		return fromCBOR(v.Value)
	}
	return nil
}

// toCBOR encodes plain Go values; a time.Time becomes a timestamp (tag 1, epoch seconds).
func toCBOR(v any) cbor.Value {
	switch v := v.(type) {
	case map[string]any:
		m := make(cbor.Map, len(v))
		for k, x := range v {
			if x != nil {
				m[k] = toCBOR(x)
			}
		}
		return m
	case []any:
		l := make(cbor.List, len(v))
		for i, x := range v {
			l[i] = toCBOR(x)
		}
		return l
	case []string:
		l := make(cbor.List, len(v))
		for i, x := range v {
			l[i] = cbor.String(x)
		}
		return l
	case []float64:
		l := make(cbor.List, len(v))
		for i, x := range v {
			l[i] = cbor.Float64(x)
		}
		return l
	case []time.Time:
		l := make(cbor.List, len(v))
		for i, x := range v {
			l[i] = toCBOR(x)
		}
		return l
	case string:
		return cbor.String(v)
	case float64:
		return cbor.Float64(v)
	case int:
		if v < 0 {
			return cbor.NegInt(-v)
		}
		return cbor.Uint(v)
	case bool:
		return cbor.Bool(v)
	case time.Time:
		return &cbor.Tag{ID: 1, Value: cbor.Float64(float64(v.UnixMilli()) / 1000)}
	}
	return &cbor.Nil{}
}

// decodeInput copies a request's plain values into a typed input, through JSON.
func decodeInput(in any, out any) error {
	b, err := json.Marshal(in)
	if err != nil {
		return errorf("SerializationException", "%v", err)
	}
	return decodeJSON(b, out)
}

var alarmStates = []string{"OK", "ALARM", "INSUFFICIENT_DATA"}

func describeAlarms(r *request, raw any) (any, error) {
	var in struct {
		AlarmNames      []string
		AlarmNamePrefix string
		StateValue      string
		AlarmTypes      []string
		MaxRecords      int
		NextToken       string
	}
	if err := decodeInput(raw, &in); err != nil {
		return nil, err
	}
	switch {
	case len(in.AlarmNames) > 100:
		return nil, errorf("InvalidParameterValueException", "The parameter AlarmNames must contain at most 100 names.")
	case len(in.AlarmNames) > 0 && in.AlarmNamePrefix != "":
		return nil, errorf("InvalidParameterCombinationException", "AlarmNamePrefix and AlarmNames cannot both be specified.")
	case in.StateValue != "" && !slices.Contains(alarmStates, in.StateValue):
		return nil, errorf("InvalidParameterValueException", "1 validation error detected: Value '%s' at 'stateValue' failed to satisfy constraint: Member must satisfy enum value set: [INSUFFICIENT_DATA, ALARM, OK]", in.StateValue)
	case in.MaxRecords < 0 || in.MaxRecords > 100:
		return nil, errorf("InvalidParameterValueException", "The parameter MaxRecords must be between 1 and 100.")
	case in.NextToken != "":
		return nil, errorf("InvalidNextToken", "The service returned an invalid NextToken.")
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	reg := r.state()
	var alarms []any
	for _, name := range slices.Sorted(maps.Keys(reg.alarms)) {
		a := reg.alarms[name]
		if len(in.AlarmNames) > 0 && !slices.Contains(in.AlarmNames, name) ||
			!strings.HasPrefix(name, in.AlarmNamePrefix) || in.StateValue != "" && in.StateValue != a.state {
			continue
		}
		var dims []any
		for _, k := range slices.Sorted(maps.Keys(a.Dimensions)) {
			dims = append(dims, map[string]any{"Name": k, "Value": a.Dimensions[k]})
		}
		period := a.Period
		if r.s.exec != nil && r.s.exec.cfg.AlarmPeriod > 0 {
			// The execution mode's clock is compressed: say the period the alarm is judged over.
			period = max(1, int(r.s.exec.cfg.AlarmPeriod/time.Second))
		}
		entry := map[string]any{
			"AlarmName": a.Name, "AlarmArn": a.arn, "StateValue": a.state, "StateReason": a.reason,
			"StateUpdatedTimestamp": a.updated, "StateTransitionedTimestamp": a.updated,
			"Namespace": a.Namespace, "MetricName": a.MetricName, "Dimensions": dims,
			"Statistic": a.Statistic, "Period": period, "EvaluationPeriods": a.EvaluationPeriods,
			"Threshold": a.Threshold, "ComparisonOperator": a.ComparisonOperator, "ActionsEnabled": true,
		}
		if a.reasonData != "" {
			entry["StateReasonData"] = a.reasonData
		}
		alarms = append(alarms, entry)
	}
	if len(in.AlarmTypes) > 0 && !slices.Contains(in.AlarmTypes, "MetricAlarm") {
		alarms = nil
	}
	return map[string]any{"MetricAlarms": listOrEmpty(alarms), "CompositeAlarms": []any{}}, nil
}

func listOrEmpty(l []any) []any {
	if l == nil {
		return []any{}
	}
	return l
}

var (
	queryIDPattern   = regexp.MustCompile(`^[a-z][a-zA-Z0-9_]*$`)
	statistics       = []string{"SampleCount", "Average", "Sum", "Minimum", "Maximum"}
	percentileStat   = regexp.MustCompile(`^p(\d{1,2}(\.\d+)?|100)$`)
	highResPeriods   = []int{1, 5, 10, 20, 30}
	maxMetricQueries = 500
)

type metricDataQuery struct {
	Id         string
	Expression string
	Label      string
	ReturnData *bool
	MetricStat *struct {
		Metric struct {
			Namespace  string
			MetricName string
			Dimensions []struct{ Name, Value string }
		}
		Period int
		Stat   string
	}
}

func getMetricData(r *request, raw any) (any, error) {
	m, _ := raw.(map[string]any)
	start, sok := m["StartTime"].(time.Time)
	end, eok := m["EndTime"].(time.Time)
	delete(m, "StartTime")
	delete(m, "EndTime")
	var in struct {
		MetricDataQueries []metricDataQuery
		ScanBy            string
		NextToken         string
	}
	if err := decodeInput(m, &in); err != nil {
		return nil, err
	}
	switch {
	case !sok || !eok:
		return nil, errorf("MissingRequiredParameterException", "The parameters StartTime and EndTime are required.")
	case !start.Before(end):
		return nil, errorf("InvalidParameterValueException", "The parameter StartTime must be less than the parameter EndTime.")
	case len(in.MetricDataQueries) == 0 || len(in.MetricDataQueries) > maxMetricQueries:
		return nil, errorf("InvalidParameterValueException", "The collection MetricDataQueries must not be empty and must have at most %d members.", maxMetricQueries)
	case in.ScanBy != "" && in.ScanBy != "TimestampAscending" && in.ScanBy != "TimestampDescending":
		return nil, errorf("InvalidParameterValueException", "1 validation error detected: Value '%s' at 'scanBy' failed to satisfy constraint: Member must satisfy enum value set: [TimestampDescending, TimestampAscending]", in.ScanBy)
	case in.NextToken != "":
		return nil, errorf("InvalidNextToken", "The service returned an invalid NextToken.")
	}
	seen := map[string]bool{}
	for i, q := range in.MetricDataQueries {
		switch {
		case !queryIDPattern.MatchString(q.Id):
			return nil, errorf("InvalidParameterValueException", "The value %s for parameter MetricDataQueries.member.%d.Id is not valid: it must start with a lowercase letter and hold only letters, digits and underscores.", q.Id, i+1)
		case seen[q.Id]:
			return nil, errorf("InvalidParameterValueException", "The value %s for parameter MetricDataQueries.member.%d.Id is already used.", q.Id, i+1)
		case q.Expression != "":
			return nil, errorf("InvalidParameterValueException", "the fake does not evaluate metric math expressions (MetricDataQueries.member.%d.Expression)", i+1)
		case q.MetricStat == nil:
			return nil, errorf("InvalidParameterCombinationException", "Exactly one of MetricStat and Expression must be given in MetricDataQueries.member.%d.", i+1)
		case q.MetricStat.Metric.Namespace == "" || q.MetricStat.Metric.MetricName == "":
			return nil, errorf("MissingRequiredParameterException", "The parameters MetricDataQueries.member.%d.MetricStat.Metric.Namespace and MetricName are required.", i+1)
		case q.MetricStat.Period < 1 || q.MetricStat.Period%60 != 0 && !slices.Contains(highResPeriods, q.MetricStat.Period):
			return nil, errorf("InvalidParameterValueException", "The parameter MetricDataQueries.member.%d.MetricStat.Period must be 1, 5, 10, 20, 30 or a multiple of 60.", i+1)
		case !slices.Contains(statistics, q.MetricStat.Stat) && !percentileStat.MatchString(q.MetricStat.Stat):
			return nil, errorf("InvalidParameterValueException", "The parameter MetricDataQueries.member.%d.MetricStat.Stat must be a valid statistic.", i+1)
		}
		seen[q.Id] = true
	}
	r.s.mu.Lock()
	defer r.s.mu.Unlock()
	reg := r.state()
	var results []any
	for _, q := range in.MetricDataQueries {
		if q.ReturnData != nil && !*q.ReturnData {
			continue
		}
		ms := q.MetricStat
		dims := map[string]string{}
		for _, d := range ms.Metric.Dimensions {
			dims[d.Name] = d.Value
		}
		period := time.Duration(ms.Period) * time.Second
		buckets := map[int64][]float64{}
		for _, p := range reg.metrics {
			if p.Namespace != ms.Metric.Namespace || p.MetricName != ms.Metric.MetricName || !maps.Equal(p.Dimensions, dims) ||
				p.Time.Before(start) || !p.Time.Before(end) {
				continue
			}
			slot := int64(p.Time.Sub(start) / period)
			buckets[slot] = append(buckets[slot], p.Value)
		}
		slots := slices.Sorted(maps.Keys(buckets))
		if in.ScanBy != "TimestampAscending" {
			slices.Reverse(slots)
		}
		times, values := []time.Time{}, []float64{}
		for _, slot := range slots {
			times = append(times, start.Add(time.Duration(slot)*period))
			values = append(values, statistic(ms.Stat, buckets[slot]))
		}
		label := q.Label
		if label == "" {
			label = ms.Metric.MetricName
		}
		results = append(results, map[string]any{"Id": q.Id, "Label": label, "Timestamps": times, "Values": values, "StatusCode": "Complete"})
	}
	return map[string]any{"MetricDataResults": listOrEmpty(results), "Messages": []any{}}, nil
}

// statistic computes a CloudWatch statistic over one period's values.
func statistic(stat string, values []float64) float64 {
	sum, lo, hi := 0.0, math.Inf(1), math.Inf(-1)
	for _, v := range values {
		sum += v
		lo, hi = min(lo, v), max(hi, v)
	}
	switch stat {
	case "SampleCount":
		return float64(len(values))
	case "Average":
		return sum / float64(len(values))
	case "Minimum":
		return lo
	case "Maximum":
		return hi
	case "Sum":
		return sum
	}
	var p float64
	fmt.Sscanf(stat, "p%g", &p)
	sorted := slices.Clone(values)
	sort.Float64s(sorted)
	i := int(math.Ceil(p/100*float64(len(sorted)))) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// putAlarmFromStack creates or updates the alarm a stack's AWS::CloudWatch::Alarm describes.
func (reg *region) putAlarmFromStack(name string, props map[string]any, now time.Time) {
	a := Alarm{
		Name: name, Namespace: scalarString(props["Namespace"]), MetricName: scalarString(props["MetricName"]),
		Statistic: scalarString(props["Statistic"]), ComparisonOperator: scalarString(props["ComparisonOperator"]),
		TreatMissingData: scalarString(props["TreatMissingData"]), Dimensions: map[string]string{},
	}
	fmt.Sscan(scalarString(props["Period"]), &a.Period)
	fmt.Sscan(scalarString(props["EvaluationPeriods"]), &a.EvaluationPeriods)
	fmt.Sscan(scalarString(props["Threshold"]), &a.Threshold)
	for _, d := range asList(props["Dimensions"]) {
		if dm, ok := d.(map[string]any); ok {
			a.Dimensions[scalarString(dm["Name"])] = scalarString(dm["Value"])
		}
	}
	reg.putAlarm(a, now)
}

func (reg *region) putAlarm(a Alarm, now time.Time) {
	if a.Statistic == "" {
		a.Statistic = "Sum"
	}
	if a.Period == 0 {
		a.Period = 60
	}
	if a.EvaluationPeriods == 0 {
		a.EvaluationPeriods = 1
	}
	if a.ComparisonOperator == "" {
		a.ComparisonOperator = "GreaterThanThreshold"
	}
	if old := reg.alarms[a.Name]; old != nil {
		old.Alarm = a
		return
	}
	reg.alarms[a.Name] = &alarm{
		Alarm: a, arn: "arn:aws:cloudwatch:" + reg.name + ":" + reg.account + ":alarm:" + a.Name,
		state: "INSUFFICIENT_DATA", reason: "Unchecked: Initial alarm creation", updated: now,
	}
}

var bracketed = regexp.MustCompile(`\[([^\]]*)\]`)

// reasonDatapoints reads the values in the brackets of a CloudWatch state reason.
func reasonDatapoints(reason string) []float64 {
	m := bracketed.FindStringSubmatch(reason)
	if m == nil {
		return nil
	}
	var out []float64
	for part := range strings.SplitSeq(m[1], ",") {
		var v float64
		if _, err := fmt.Sscan(strings.TrimSpace(part), &v); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// stateReasonData is the JSON CloudWatch puts in StateReasonData for a metric alarm.
func stateReasonData(a *alarm, datapoints []float64) string {
	if datapoints == nil {
		datapoints = []float64{}
	}
	period := time.Duration(a.Period) * time.Second
	b, _ := json.Marshal(map[string]any{
		"version": "1.0", "queryDate": a.updated.UTC().Format("2006-01-02T15:04:05.000-0700"),
		"startDate": a.updated.Add(-period).UTC().Format("2006-01-02T15:04:05.000-0700"),
		"statistic": a.Statistic, "period": a.Period, "recentDatapoints": datapoints, "threshold": a.Threshold,
	})
	return string(b)
}

// evaluateAlarm judges an alarm on the metric points it watches: each of the last
// EvaluationPeriods periods (aligned as CloudWatch aligns them, up to the newest point's) is
// the alarm's statistic over its points; the alarm is ALARM if all breach and OK if the newest
// does not. An alarm with no points keeps its state.
func (reg *region) evaluateAlarm(a *alarm, now time.Time) {
	period := int64(max(a.Period, 1))
	slots := map[int64][]float64{}
	newest := int64(math.MinInt64)
	for _, p := range reg.metrics {
		if p.Namespace != a.Namespace || p.MetricName != a.MetricName || !maps.Equal(p.Dimensions, a.Dimensions) {
			continue
		}
		slot := p.Time.Unix() / period
		slots[slot] = append(slots[slot], p.Value)
		newest = max(newest, slot)
	}
	if len(slots) == 0 {
		return
	}
	var values []float64
	breaching := 0
	for slot := newest - int64(a.EvaluationPeriods) + 1; slot <= newest; slot++ {
		points, ok := slots[slot]
		if !ok {
			continue
		}
		v := statistic(a.Statistic, points)
		values = append(values, v)
		if a.breaches(v) {
			breaching++
		}
	}
	latest := statistic(a.Statistic, slots[newest])
	state := "OK"
	if breaching == a.EvaluationPeriods {
		state = "ALARM"
	}
	if state == a.state || state == "OK" && a.breaches(latest) {
		return
	}
	verb := map[string]string{
		"GreaterThanThreshold": "greater than", "GreaterThanOrEqualToThreshold": "greater than or equal to",
		"LessThanThreshold": "less than", "LessThanOrEqualToThreshold": "less than or equal to",
	}[a.ComparisonOperator]
	var shown []string
	for _, v := range values {
		shown = append(shown, strconv.FormatFloat(v, 'f', 1, 64))
	}
	how := "was"
	if state == "OK" {
		how = "was not"
	}
	a.state, a.updated = state, now
	a.reason = fmt.Sprintf("Threshold Crossed: %d out of the last %d datapoints [%s] %s %s the threshold (%s).",
		len(values), a.EvaluationPeriods, strings.Join(shown, ", "), how, verb, strconv.FormatFloat(a.Threshold, 'f', 1, 64))
	a.reasonData = stateReasonData(a, values)
}

func (a *alarm) breaches(v float64) bool {
	switch a.ComparisonOperator {
	case "GreaterThanOrEqualToThreshold":
		return v >= a.Threshold
	case "LessThanThreshold":
		return v < a.Threshold
	case "LessThanOrEqualToThreshold":
		return v <= a.Threshold
	}
	return v > a.Threshold
}
