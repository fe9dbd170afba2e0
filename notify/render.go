package notify

import (
	"bytes"
	"fmt"
	"html/template"
	"strings"
)

// Text renders m as plain text: the lead, the facts, the changes, the log and what to do.
func (m Message) Text() string {
	var b strings.Builder
	b.WriteString(m.Subject + "\n")
	if m.Lead != "" {
		b.WriteString("\n" + m.Lead + "\n")
	}
	if len(m.Facts) > 0 {
		b.WriteString("\n")
		width := 0
		for _, f := range m.Facts {
			width = max(width, len(f.Label))
		}
		for _, f := range m.Facts {
			fmt.Fprintf(&b, "  %-*s  %s\n", width+1, f.Label+":", f.Value)
		}
	}
	if len(m.Changes) > 0 {
		b.WriteString("\nChanges:\n")
		for _, c := range m.Changes {
			b.WriteString("  " + c + "\n")
		}
	}
	if m.Log != "" {
		b.WriteString("\n" + capitalize(m.LogTitle) + ":\n")
		for _, l := range strings.Split(m.Log, "\n") {
			b.WriteString("  | " + l + "\n")
		}
	}
	if len(m.Act) > 0 {
		b.WriteString("\nTo act on it:\n")
		for _, a := range m.Act {
			b.WriteString("  " + a + "\n")
		}
	}
	if m.EventID != "" {
		b.WriteString("\n-- \nSluice event " + m.EventID + "\n")
	}
	return b.String()
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// toneColors are the accent of each tone, in HTML mail and Slack attachments.
var toneColors = map[string]string{ToneBad: "#c62828", ToneWait: "#ef6c00", ToneGood: "#2e7d32", ToneInfo: "#546e7a"}

var htmlMessage = template.Must(template.New("mail").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><meta name="viewport" content="width=device-width"><title>{{.Subject}}</title></head>
<body style="font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;font-size:15px;line-height:1.4;color:#222;margin:0;padding:16px">
<div style="max-width:640px;border-left:4px solid {{.Color}};padding-left:12px">
<h2 style="font-size:18px;margin:0 0 8px">{{.Subject}}</h2>
{{if .Lead}}<p style="margin:0 0 12px">{{.Lead}}</p>{{end}}
{{if .Facts}}<table style="border-collapse:collapse;margin:0 0 12px">{{range .Facts}}
<tr><td style="padding:2px 12px 2px 0;color:#666;vertical-align:top;white-space:nowrap">{{.Label}}</td><td style="padding:2px 0;word-break:break-all">{{.Value}}</td></tr>{{end}}
</table>{{end}}
{{if .Changes}}<p style="margin:0 0 4px;font-weight:600">Changes</p>
<ul style="margin:0 0 12px;padding-left:20px">{{range .Changes}}<li><code>{{.}}</code></li>{{end}}</ul>{{end}}
{{if .Log}}<p style="margin:0 0 4px;font-weight:600">{{.LogTitle}}</p>
<pre style="background:#f5f5f5;padding:8px;overflow-x:auto;font-size:13px;margin:0 0 12px">{{.Log}}</pre>{{end}}
{{if .Act}}<p style="margin:0 0 4px;font-weight:600">To act on it</p>
{{range .Act}}<pre style="background:#f5f5f5;padding:6px 8px;margin:0 0 4px;font-size:13px">{{.}}</pre>{{end}}{{end}}
<p style="color:#888;font-size:12px;margin:16px 0 0">Sluice event {{.EventID}}</p>
</div></body></html>
`))

// HTML renders m as an HTML document, escaped, readable on a phone.
func (m Message) HTML() string {
	var b bytes.Buffer
	data := struct {
		Message
		Color string
	}{m, toneColors[m.Tone]}
	if data.Color == "" {
		data.Color = toneColors[ToneInfo]
	}
	if err := htmlMessage.Execute(&b, data); err != nil {
		// The template is fixed and its data plain strings: this cannot happen; keep the text.
		return "<pre>" + template.HTMLEscapeString(m.Text()) + "</pre>"
	}
	return b.String()
}
