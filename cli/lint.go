package cli

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/lint"
	"github.com/sluicehq/sluice/lint/template"
)

func lintCommand(e *env) *cobra.Command {
	c, f := newCommand("lint TEMPLATE|DIR|-... [--json] [--enable RULE] [--disable RULE] [--rules]",
		"Check CloudFormation templates against the resource specification and security rules",
		`Each template (YAML or JSON, SAM included) is checked against the CloudFormation resource
specification Sluice carries (resource types, properties, required properties, value types,
allowed values, Ref/Fn::GetAtt/Fn::Sub/DependsOn/condition targets) and against security rules
(IAM wildcards, public or unencrypted buckets, key rotation, open security groups, ...; --rules
lists them). Every finding is printed as FILE:LINE:COL: error: RULE: PATH: message.

A directory stands for the templates in it and below it (.yaml, .yml, .json and .template files
that have Resources); - reads one template from standard input.

A resource suppresses a rule with a reason in Metadata: {sluice: {suppress: [{id: RULE, reason: why}]}}.
Exit 0 when no template has errors (warnings do not count), 1 when one has, 2 on bad usage.`,
		flagJSON)
	enable := c.Flags().StringSlice("enable", nil, "turn on an opt-in `RULE` (repeat or comma-separate)")
	disable := c.Flags().StringSlice("disable", nil, "turn off a `RULE` for every template")
	rules := c.Flags().Bool("rules", false, "list the security rules and exit")
	c.Flags().Lookup("json").Usage = "print JSON (a stable format, documented in docs/lint.md)"
	c.Args = cobra.ArbitraryArgs
	c.ValidArgsFunction = func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		return []string{"yaml", "yml", "json", "template"}, cobra.ShellCompDirectiveFilterFileExt
	}
	c.RunE = e.run(func(args []string) error {
		if *rules {
			return cmdLintRules(e, f)
		}
		if len(args) == 0 {
			return usagef("missing argument: name the TEMPLATE files (or a directory of them, or - for standard input) to check")
		}
		return cmdLint(e, f, args, lint.Options{Enable: *enable, Disable: *disable})
	})
	return c
}

// lintedTemplate is one template's findings, for --json.
type lintedTemplate struct {
	File     string         `json:"file"`
	Findings []lint.Finding `json:"findings"`
}

func cmdLint(e *env, f *flags, args []string, opts lint.Options) error {
	if err := opts.Validate(); err != nil {
		return sluice.Errorf(sluice.EINVALID, "%w", err)
	}
	files, err := templateFiles(args)
	if err != nil {
		return err
	}
	var (
		out              []lintedTemplate
		errCount, warned int
	)
	for _, file := range files {
		var data []byte
		if file == "-" {
			data, err = io.ReadAll(io.LimitReader(e.stdin, template.MaxSize+1))
			if err == nil && len(data) > template.MaxSize {
				err = sluice.Errorf(sluice.EINVALID, "the template on standard input is larger than %d bytes; CloudFormation takes templates up to 1 MB", template.MaxSize)
			}
		} else {
			data, err = readTemplate(file)
		}
		if err != nil {
			return err
		}
		name := file
		if file == "-" {
			name = "<stdin>"
		}
		findings, err := lint.Check(name, data, opts)
		if err != nil {
			return sluice.Errorf(sluice.EINVALID, "%w", err)
		}
		if findings == nil {
			findings = []lint.Finding{}
		}
		for _, fd := range findings {
			if fd.Severity == lint.SeverityError {
				errCount++
			} else {
				warned++
			}
			if !*f.json {
				fmt.Fprintln(e.stdout, fd.String())
			}
		}
		out = append(out, lintedTemplate{File: name, Findings: findings})
	}
	if *f.json {
		writeJSON(e.stdout, map[string]any{"templates": out, "errors": errCount, "warnings": warned})
	} else {
		fmt.Fprintf(e.stdout, "%d %s checked: %d %s, %d %s\n", len(files), plural(len(files), "template", "templates"),
			errCount, plural(errCount, "error", "errors"), warned, plural(warned, "warning", "warnings"))
	}
	if errCount > 0 {
		return exitError(ExitFailed)
	}
	return nil
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// templateFiles expands the arguments: a directory stands for the templates in it and below it.
func templateFiles(args []string) ([]string, error) {
	var files []string
	for _, arg := range args {
		st, err := os.Stat(arg)
		if arg == "-" || err != nil || !st.IsDir() {
			files = append(files, arg) // readTemplate says what is wrong with it
			continue
		}
		found := 0
		err = filepath.WalkDir(arg, func(path string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			name := d.Name()
			if d.IsDir() {
				if path != arg && (strings.HasPrefix(name, ".") || name == "node_modules" || name == "vendor" || name == "testdata") {
					return filepath.SkipDir
				}
				return nil
			}
			if looksLikeTemplate(path) {
				files = append(files, path)
				found++
			}
			return nil
		})
		if err != nil {
			return nil, sluice.Errorf(sluice.EINVALID, "read %s: %w", arg, err)
		}
		if found == 0 {
			return nil, sluice.Errorf(sluice.EINVALID, "%s holds no CloudFormation templates (.yaml, .yml, .json or .template files with Resources); name the template files", arg)
		}
	}
	return files, nil
}

// looksLikeTemplate reports whether a file found in a directory is a template: its name ends
// .yaml, .yml, .json or .template and it has a Resources key at the top level (or looks like it
// would, but does not parse).
func looksLikeTemplate(path string) bool {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".yaml", ".yml", ".json", ".template":
	default:
		return false
	}
	st, err := os.Stat(path)
	if err != nil || !st.Mode().IsRegular() || st.Size() > template.MaxSize {
		return false
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return false
	}
	if !topLevelResources.Match(data) {
		return false
	}
	// A JSON document with Resources deeper down (an event, a fixture) is not a template; one
	// that does not parse is, so that what is wrong with it is reported.
	root, err := template.Parse(path, data)
	return err != nil || root.Get("Resources") != nil
}

// topLevelResources finds "Resources:" at the start of a line (YAML) or "Resources" as a key
// near the start of an object (JSON, any indentation).
var topLevelResources = regexp.MustCompile(`(?m)^(Resources\s*:|\s*"Resources"\s*:)`)

// readTemplate reads a template file, refusing what is not a regular file or is too large
// before reading it whole.
func readTemplate(file string) ([]byte, error) {
	st, err := os.Stat(file)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, sluice.Errorf(sluice.EINVALID, "no template %s; check the path", file)
	case err != nil:
		return nil, sluice.Errorf(sluice.EINVALID, "read %s: %w", file, err)
	case !st.Mode().IsRegular():
		return nil, sluice.Errorf(sluice.EINVALID, "%s is not a regular file or a directory; name template files", file)
	case st.Size() > template.MaxSize:
		return nil, sluice.Errorf(sluice.EINVALID, "%s is larger than %d bytes; CloudFormation takes templates up to 1 MB", file, template.MaxSize)
	}
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, sluice.Errorf(sluice.EINVALID, "read %s: %w", file, err)
	}
	return data, nil
}

func cmdLintRules(e *env, f *flags) error {
	if *f.json {
		writeJSON(e.stdout, map[string]any{"rules": lint.Rules})
		return nil
	}
	for _, r := range lint.Rules {
		optIn := ""
		if r.OptIn {
			optIn = " (opt-in: --enable " + r.ID + ")"
		}
		fmt.Fprintf(e.stdout, "%-7s %s%s\n", r.ID, r.Summary, optIn)
	}
	return nil
}
