package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/git"
	"github.com/sluicehq/sluice/plan"
	"github.com/sluicehq/sluice/spec"
)

// load parses the route file and prints its diagnostics (warnings too) to stderr. It returns an
// EINVALID error when the file has errors, so the command exits 2.
func load(file string) (*spec.Route, spec.Diagnostics, error) {
	if err := checkRegularFile(file); err != nil {
		return nil, nil, err
	}
	route, diags, err := spec.ParseFile(file)
	if err != nil {
		return nil, nil, sluice.Errorf(sluice.EINVALID, "%w", err)
	}
	if route != nil {
		diags = append(diags, route.UnsetSecrets(os.LookupEnv)...)
		diags = append(diags, route.UnsetNotifyVars(os.LookupEnv)...)
	}
	return route, diags, nil
}

// checkRegularFile refuses a route file that is not a regular file before anything opens it:
// opening a named pipe blocks until a writer comes, and a device such as /dev/zero never ends.
func checkRegularFile(file string) error {
	st, err := os.Stat(file)
	if err != nil || st.Mode().IsRegular() {
		return nil // a missing or unreadable file is reported by the reader, with its own advice
	}
	kind := "not a regular file"
	switch {
	case st.IsDir():
		kind = "a directory"
	case st.Mode()&fs.ModeNamedPipe != 0:
		kind = "a named pipe"
	case st.Mode()&fs.ModeDevice != 0:
		kind = "a device"
	case st.Mode()&fs.ModeSocket != 0:
		kind = "a socket"
	}
	return sluice.Errorf(sluice.EINVALID, "%s is %s, not a route file; pass the path of a sluice.yaml with -f FILE", file, kind)
}

// warnUncommitted warns when the route file here is not what a run of its commit reads: an
// execution reads the route as its revision holds it, so edits that are not committed do not
// run, and a file the commit does not hold at all runs as it is here, unreviewed.
func warnUncommitted(ctx context.Context, w io.Writer, file string) {
	changed, err := git.Uncommitted(ctx, file)
	if err != nil || !changed {
		return
	}
	if tracked, err := git.Tracked(ctx, file); err == nil && tracked {
		fmt.Fprintf(w, "warning: %s has changes that are not committed; Sluice runs the route as the revision holds it, without them; commit the change to run it\n", file)
		return
	}
	fmt.Fprintf(w, "warning: %s is not committed; Sluice runs it as it is here with the code of the commit; commit it so the route is reviewed and versioned with the code\n", file)
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

// writeJSON prints v as the stable JSON of a --json output: indented, and an object always
// begins with "format_version" (docs/json.md), so scripts can tell formats apart.
func writeJSON(w io.Writer, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		fmt.Fprintf(os.Stderr, "write JSON: %v\n", err)
		return
	}
	if len(b) > 1 && b[0] == '{' && !bytes.HasPrefix(b, []byte(`{"format_version":`)) {
		rest := b[1:]
		if string(rest) != "}" {
			rest = append([]byte{','}, rest...)
		}
		b = append([]byte(`{"format_version":1`), rest...)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, b, "", "  "); err != nil {
		fmt.Fprintf(os.Stderr, "write JSON: %v\n", err)
		return
	}
	out.WriteByte('\n')
	_, _ = w.Write(out.Bytes())
}
