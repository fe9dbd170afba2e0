package aws

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/s3"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/sluicehq/sluice"
)

// bundle is what an environment deploys from one artifact: the template, and the Lambda code
// as a zip whose bytes depend only on the artifact's files, so that the same artifact always
// uploads to the same key.
type bundle struct {
	template []byte
	code     []byte // nil when the route has no code to upload
}

// maxTemplateBody is the largest template CloudFormation takes inline (TemplateBody).
const maxTemplateBody = 51200

// unpack verifies the artifact and reads the template and the code from it.
func (p *Provider) unpack(digest string, t *Target, withCode bool) (*bundle, error) {
	if p.host.Artifacts == nil {
		return nil, sluice.Errorf(sluice.EINTERNAL, "the aws provider was opened without an artifact store")
	}
	tmp, err := os.MkdirTemp("", "sluice-aws-")
	if err != nil {
		return nil, fmt.Errorf("create a folder to unpack the artifact: %w", err)
	}
	defer os.RemoveAll(tmp)
	dir := filepath.Join(tmp, "artifact")
	if err := p.host.Artifacts.Unpack(digest, dir); err != nil {
		return nil, err
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		return nil, err
	}
	defer root.Close()
	b := &bundle{}
	if b.template, err = root.ReadFile(filepath.FromSlash(t.Template)); err != nil {
		return nil, sluice.Errorf(sluice.EINVALID, "the artifact %s has no template %s (%v); add it to build.artifact or set template: in the aws target", short(digest), t.Template, errors.Unwrap(err))
	}
	if len(b.template) > maxTemplateBody {
		return nil, sluice.Errorf(sluice.EINVALID, "template %s is %d bytes, over CloudFormation's %d for a template given inline; make it smaller (nested stacks, or code in the artifact rather than inline)", t.Template, len(b.template), maxTemplateBody)
	}
	if !withCode {
		return b, nil
	}
	code := strings.TrimSuffix(t.Code, "/")
	if strings.HasSuffix(code, ".zip") {
		if b.code, err = root.ReadFile(filepath.FromSlash(code)); err != nil {
			return nil, sluice.Errorf(sluice.EINVALID, "the artifact %s has no code %s (%v); add it to build.artifact or fix code: in the aws target", short(digest), code, errors.Unwrap(err))
		}
		return b, nil
	}
	skip := t.Template
	if code == "" {
		code = "."
	} else {
		skip = ""
	}
	if b.code, err = zipFolder(root.FS(), code, skip); err != nil {
		return nil, err
	}
	return b, nil
}

// zipFolder zips the files under dir of fsys (without skip) with their paths relative to dir,
// in name order, with fixed times and modes: the same files always give the same bytes.
// Executable files keep their executable bit (a Lambda bootstrap needs it).
func zipFolder(fsys fs.FS, dir, skip string) ([]byte, error) {
	var names []string
	err := fs.WalkDir(fsys, dir, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() && name != skip {
			names = append(names, name)
		}
		return nil
	})
	if err != nil {
		return nil, sluice.Errorf(sluice.EINVALID, "read the code folder %s of the artifact: %v; fix code: in the aws target", dir, err)
	}
	if len(names) == 0 {
		return nil, sluice.Errorf(sluice.EINVALID, "the code folder %s of the artifact holds no file; add the function's files to build.artifact", dir)
	}
	sort.Strings(names)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	epoch := time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, name := range names {
		info, err := fs.Stat(fsys, name)
		if err != nil {
			return nil, err
		}
		mode := fs.FileMode(0o644)
		if info.Mode()&0o111 != 0 {
			mode = 0o755
		}
		rel := name
		if dir != "." {
			rel = strings.TrimPrefix(name, dir+"/")
		}
		h := &zip.FileHeader{Name: path.Clean(rel), Method: zip.Deflate, Modified: epoch}
		h.SetMode(mode)
		w, err := zw.CreateHeader(h)
		if err != nil {
			return nil, err
		}
		f, err := fsys.Open(name)
		if err != nil {
			return nil, err
		}
		_, err = io.Copy(w, f)
		f.Close()
		if err != nil {
			return nil, err
		}
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// artifactKey is where an artifact's code lives in the artifact bucket: named by the
// artifact's digest, so a template points at an object that never changes.
func artifactKey(route, digest string) string {
	return fmt.Sprintf("sluice/%s/%s.zip", route, strings.TrimPrefix(digest, "sha256:"))
}

// upload puts the code in the tooling account's artifact bucket under SSE-KMS, once: an
// object already at the key with the same SHA-256 is left as it is.
func (p *Provider) upload(ctx context.Context, t *Target, key string, code []byte) error {
	client, err := p.artifactClient(ctx, t.Region)
	if err != nil {
		return err
	}
	sum := sha256.Sum256(code)
	want := base64.StdEncoding.EncodeToString(sum[:])
	head, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &t.ArtifactBucket, Key: &key, ChecksumMode: s3types.ChecksumModeEnabled})
	if err == nil {
		if head.ChecksumSHA256 != nil && *head.ChecksumSHA256 != want {
			return sluice.Errorf(sluice.ECORRUPT, "s3://%s/%s holds other bytes than the artifact's code; delete the object and run again", t.ArtifactBucket, key)
		}
		return nil
	}
	if !notFound(err) {
		return fmt.Errorf("look for the code in s3://%s/%s: %w", t.ArtifactBucket, key, err)
	}
	_, err = client.PutObject(ctx, &s3.PutObjectInput{
		Bucket: &t.ArtifactBucket, Key: &key, Body: bytes.NewReader(code),
		ContentLength:        ptr(int64(len(code))),
		ChecksumSHA256:       &want,
		ServerSideEncryption: s3types.ServerSideEncryptionAwsKms,
		SSEKMSKeyId:          &t.ArtifactKMSKey,
		ContentType:          ptr("application/zip"),
	})
	if err != nil {
		return fmt.Errorf("upload the code to s3://%s/%s: %w", t.ArtifactBucket, key, err)
	}
	return nil
}

// notFound reports whether err is AWS saying the thing asked for does not exist.
func notFound(err error) bool {
	var api smithy.APIError
	if !errors.As(err, &api) {
		return false
	}
	switch api.ErrorCode() {
	case "NotFound", "NoSuchKey", "ResourceNotFoundException", "ChangeSetNotFound", "ChangeSetNotFoundException":
		return true
	case "ValidationError":
		return strings.Contains(api.ErrorMessage(), "does not exist")
	}
	return false
}

func ptr[T any](v T) *T { return &v }

// short is a digest cut for people to read.
func short(digest string) string {
	d := strings.TrimPrefix(digest, "sha256:")
	return d[:min(len(d), 12)]
}
