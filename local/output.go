package local

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sluicehq/sluice"
	"github.com/sluicehq/sluice/deploy"
)

var _ deploy.Output = (*Provider)(nil)

// VersionOutput reads what a version printed, from its log in the environment's folder. When
// version is "", it is the version that serves there now, or when this provider serves none
// there (an engine that only reads), the one whose log was written last: the live one when
// its engine stopped. It reads files only, so it may run beside a deployment.
func (p *Provider) VersionOutput(_ context.Context, target deploy.Environment, version string, offset int64, limit int) (deploy.VersionOutput, error) {
	if !plainName(target.Name) || (version != "" && !plainName(version)) {
		return deploy.VersionOutput{}, sluice.Errorf(sluice.EINVALID, "environment %q, version %q: not names of this provider's", target.Name, version)
	}
	versions := filepath.Join(p.dir, target.Name, "versions")
	if version == "" {
		version = p.liveVersion(target.Name)
	}
	if version == "" {
		newest, err := newestLog(versions)
		if err != nil {
			return deploy.VersionOutput{}, err
		}
		if newest == "" {
			return deploy.VersionOutput{}, sluice.Errorf(sluice.ENOTFOUND, "%s has run no version yet; deploy to it with sluice run", target.Name)
		}
		version = newest
	}
	f, err := os.Open(filepath.Join(versions, version+".log"))
	if errors.Is(err, fs.ErrNotExist) {
		return deploy.VersionOutput{}, sluice.Errorf(sluice.ENOTFOUND, "%s has run no version %s; sluice status shows the ones it runs", target.Name, version)
	}
	if err != nil {
		return deploy.VersionOutput{}, fmt.Errorf("read version log: %w", err)
	}
	defer f.Close()
	text, err := io.ReadAll(io.NewSectionReader(f, offset, int64(max(limit, 0))))
	if err != nil {
		return deploy.VersionOutput{}, fmt.Errorf("read version log: %w", err)
	}
	return deploy.VersionOutput{Version: version, Text: text}, nil
}

// liveVersion is the ID of the version that serves in the environment named name now, or ""
// when this provider serves none there.
func (p *Provider) liveVersion(name string) string {
	p.mu.Lock()
	env := p.envs[name]
	p.mu.Unlock()
	if env == nil {
		return ""
	}
	env.mu.Lock()
	defer env.mu.Unlock()
	if env.live == nil {
		return ""
	}
	return env.live.id
}

// newestLog is the version whose log in dir was written last, or "" when there is none.
func newestLog(dir string) (string, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("list versions: %w", err)
	}
	newest, newestTime := "", time.Time{}
	for _, entry := range entries {
		name, ok := strings.CutSuffix(entry.Name(), ".log")
		if !ok || !entry.Type().IsRegular() {
			continue
		}
		if info, err := entry.Info(); err == nil && (newest == "" || info.ModTime().After(newestTime)) {
			newest, newestTime = name, info.ModTime()
		}
	}
	return newest, nil
}

// plainName reports whether name can be one file name in a folder: not empty, no separator,
// not . or ..
func plainName(name string) bool {
	return name != "" && name != "." && name != ".." && !strings.ContainsAny(name, `/\`)
}
