package spec

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"strings"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
	"github.com/goccy/go-yaml/parser"

	"github.com/sluicehq/sluice"
)

// DefaultFile is the name Sluice looks for when no file is given.
const DefaultFile = "sluice.yaml"

// Parse reads a sluice.yaml, version 1, from data. filename names the file in diagnostics; if
// empty, DefaultFile is used.
//
// Parse reports every problem it finds, sorted by position. The Route is non-nil and fully
// defaulted whenever the diagnostics hold no errors (warnings allowed); when they hold errors the
// Route may be nil or partial and must not be used.
//
// Environments may name the local target and the kinds registered with RegisterTarget.
func Parse(filename string, data []byte) (*Route, Diagnostics) {
	return parseWith(defaultTargets, filename, data)
}

func parseWith(targets *Targets, filename string, data []byte) (*Route, Diagnostics) {
	if filename == "" {
		filename = DefaultFile
	}
	r := newReader(filename)
	r.targets = targets
	route := r.parse(data)
	diags := r.diags.sorted()
	if diags.HasErrors() {
		return nil, diags
	}
	return route, diags
}

// ParseFile reads and parses the file at path. The error is only for a file that cannot be
// read; problems in its contents are in the Diagnostics. It reads at most MaxFileSize bytes and
// one more, so a file without end (/dev/zero) is answered like one that is too large.
func ParseFile(path string) (*Route, Diagnostics, error) {
	data, err := readBounded(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil, nil, sluice.Errorf(sluice.ENOTFOUND, "read %s: %w; create one or pass -f FILE", path, err)
	case err != nil:
		return nil, nil, sluice.Errorf(sluice.EINVALID, "read %s: %w; pass the path of a readable sluice.yaml with -f FILE", path, err)
	}
	route, diags := Parse(path, data)
	return route, diags, nil
}

func readBounded(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, MaxFileSize+1))
}

func (r *reader) parse(data []byte) *Route {
	if len(data) > MaxFileSize {
		r.errorf(r.root, "", "the file is larger than %d bytes (1 MiB); a sluice.yaml is a few kilobytes: check that -f names the route file", MaxFileSize)
		return nil
	}
	// Editors on some systems start files with a byte order mark; it is not part of the YAML.
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	sc := prescan(data)
	if sc.tooMuch != "" {
		r.errorf(sc.at, "", "%s", sc.tooMuch)
		return nil
	}
	r.badUTF8 = sc.bad
	defer r.reportBadUTF8(sc.badMore)
	if len(bytes.TrimSpace(data)) == 0 {
		r.errorf(r.root, "", "the file is empty; start with version: 1, a name, a build and environments (see docs/sluice-yaml.md)")
		return nil
	}
	// Duplicate keys are allowed here so that they are reported with everything else, by entries.
	file, err := parser.ParseBytes(data, 0, parser.AllowDuplicateMapKey())
	if err != nil {
		r.syntaxError(err)
		return nil
	}
	var docs []*ast.DocumentNode
	for _, doc := range file.Docs {
		if doc == nil || doc.Body == nil {
			continue
		}
		// A %YAML or %TAG directive comes back as a document of its own; it holds no keys.
		if _, isDirective := doc.Body.(*ast.DirectiveNode); !isDirective {
			docs = append(docs, doc)
		}
	}
	if len(docs) == 0 {
		r.errorf(r.root, "", "the file holds only comments; start with version: 1, a name, a build and environments (see docs/sluice-yaml.md)")
		return nil
	}
	for _, extra := range docs[1:] {
		r.errorf(posOf(extra), "", "a second YAML document; a sluice.yaml holds one document, remove this '---' and what follows or merge it into the first")
	}
	body := docs[0].Body
	r.collectAnchors(body)
	if p := posOf(body); p.line > 0 {
		r.root = p
	}
	resolved := r.resolve(body, "")
	if !isMapping(resolved) {
		if resolved != nil {
			r.errorf(posOf(resolved), "", "the file must be a mapping of keys (version, name, build, environments, ...), got %s", kindOf(resolved))
		}
		return nil
	}
	fields, _ := r.fields(field{value: resolved, keyPos: r.root}, routeKeys)
	route := r.readRoute(fields)
	r.checkRoute(route)
	return route
}

// syntaxError reports a YAML syntax error at the token the parser stopped on.
func (r *reader) syntaxError(err error) {
	var yerr yaml.Error
	if errors.As(err, &yerr) {
		at := tokenPos(yerr.GetToken())
		msg := strings.ReplaceAll(yerr.GetMessage(), "\t", `\t`)
		if strings.Contains(msg, `\t`) {
			msg += "; YAML indents with spaces, not tabs"
		}
		r.errorf(at, "", "invalid YAML: %s", msg)
		return
	}
	r.errorf(r.root, "", "invalid YAML: %s", err)
}
