module github.com/sluicehq/sluice

go 1.26.0

// Pure Go only, so the binary is static. Versions are pinned exactly: the module proxy these
// machines reach refuses some newer ones (modernc.org/sqlite v1.61.x breaks go mod tidy).
require (
	// Tests only: lambdarun's tests build real Lambda bootstraps with the Go runtime's own library.
	github.com/aws/aws-lambda-go v1.55.1
	// The aws target: the SDK's own clients, so credentials, endpoints (AWS_ENDPOINT_URL for
	// LocalStack, moto or Sluice's fake) and retries behave as every AWS tool's do.
	github.com/aws/aws-sdk-go-v2 v1.48.0
	github.com/aws/aws-sdk-go-v2/config v1.33.18
	github.com/aws/aws-sdk-go-v2/credentials v1.21.0
	github.com/aws/aws-sdk-go-v2/service/cloudformation v1.84.0
	github.com/aws/aws-sdk-go-v2/service/cloudwatch v1.76.0
	github.com/aws/aws-sdk-go-v2/service/lambda v1.115.0
	github.com/aws/aws-sdk-go-v2/service/s3 v1.114.10
	github.com/aws/aws-sdk-go-v2/service/sts v1.52.0
	github.com/aws/smithy-go v1.28.9
	// sluice.yaml: a YAML parser whose syntax tree keeps line:column for every diagnostic.
	github.com/goccy/go-yaml v1.19.2
	// Whether standard input is a terminal a person types at (an ioctl, not the file mode:
	// /dev/null is a character device too). Already in the build through the SQLite driver.
	github.com/mattn/go-isatty v0.0.24
	// Tests only: parses the router's /metrics with the Prometheus text parser.
	github.com/prometheus/common v0.73.1
	// Tests only: checks every valid route against schema/sluice.schema.json.
	github.com/santhosh-tekuri/jsonschema/v6 v6.0.3
	// The command line: subcommands, help per command, shell completion (bash, zsh, fish).
	github.com/spf13/cobra v1.10.2
	github.com/spf13/pflag v1.0.9
	// Notifications by email: SMTP with STARTTLS or TLS and authentication, MIME parts.
	// v0.8.2 needs a newer Go than this module's.
	github.com/wneessen/go-mail v0.8.1
	// CloudFormation templates (sluice lint): a YAML parser that keeps short-form tags (!Ref)
	// and the column of every node exactly. Already in the build through prometheus/common.
	go.yaml.in/yaml/v3 v3.0.5
	// The embedded store: SQLite without cgo.
	modernc.org/sqlite v1.60.1
)

// The fake AWS (internal/fakeaws) serves S3 through gofakes3; CodeDeploy and KMS clients test it.
require (
	github.com/aws/aws-sdk-go-v2/service/codedeploy v1.36.0
	github.com/aws/aws-sdk-go-v2/service/kms v1.62.6
	github.com/johannesboyne/gofakes3 v1.2.0
)

require (
	github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream v1.7.27 // indirect
	github.com/aws/aws-sdk-go-v2/feature/ec2/imds v1.20.9 // indirect
	github.com/aws/aws-sdk-go-v2/internal/configsources v1.5.12 // indirect
	github.com/aws/aws-sdk-go-v2/internal/endpoints/v2 v2.8.12 // indirect
	github.com/aws/aws-sdk-go-v2/internal/v4a v1.5.12 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/accept-encoding v1.13.25 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/checksum v1.11.13 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/presigned-url v1.14.12 // indirect
	github.com/aws/aws-sdk-go-v2/service/internal/s3shared v1.20.12 // indirect
	github.com/aws/aws-sdk-go-v2/service/signin v1.13.1 // indirect
	github.com/aws/aws-sdk-go-v2/service/sso v1.39.5 // indirect
	github.com/aws/aws-sdk-go-v2/service/ssooidc v1.44.5 // indirect
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/ncruces/go-strftime v1.0.0 // indirect
	github.com/pandatix/go-abnf v0.5.3 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	github.com/ryszard/goskiplist v0.0.0-20150312221310-2dfbae5fcf46 // indirect
	go.shabbyrobe.org/gocovmerge v0.0.0-20230507111327-fa4f82cfbf4d // indirect
	golang.org/x/crypto v0.54.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	golang.org/x/tools v0.51.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	modernc.org/libc v1.77.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
)
