package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/spec"
)

// load parses the route file and prints its diagnostics (warnings too) to stderr. It returns an
// EINVALID error when the file has errors, so the command exits 2.
func load(file string) (*spec.Route, spec.Diagnostics, error) {
	route, diags, err := spec.ParseFile(file)
	if err != nil {
		return nil, nil, sluice.Errorf(sluice.EINVALID, "%w", err)
	}
	if route != nil {
		diags = append(diags, route.UnsetSecrets(os.LookupEnv)...)
	}
	return route, diags, nil
}

func printDiagnostics(w io.Writer, diags spec.Diagnostics) {
	for _, d := range diags {
		fmt.Fprintln(w, d.String())
	}
}

func cmdValidate(e *env, f *flags) error {
	_, diags, err := load(*f.file)
	if err != nil {
		return err
	}
	if *f.json {
		if diags == nil {
			diags = spec.Diagnostics{}
		}
		writeJSON(e.stdout, map[string]any{"file": *f.file, "valid": !diags.HasErrors(), "diagnostics": diags})
	} else {
		printDiagnostics(e.stdout, diags)
		if !diags.HasErrors() {
			fmt.Fprintf(e.stdout, "%s is valid\n", *f.file)
		}
	}
	if diags.HasErrors() {
		return exitError(ExitFailed)
	}
	return nil
}

func cmdPlan(e *env, f *flags) error {
	route, diags, err := load(*f.file)
	if err != nil {
		return err
	}
	printDiagnostics(e.stderr, diags)
	if diags.HasErrors() {
		return exitError(ExitUsage)
	}
	p := plan.Compile(route)
	if *f.json {
		writeJSON(e.stdout, p)
		return nil
	}
	fmt.Fprint(e.stdout, p.Text())
	return nil
}

func writeJSON(w io.Writer, v any) {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		fmt.Fprintf(os.Stderr, "write JSON: %v\n", errors.Unwrap(err))
	}
}
