module github.com/sluicehq/sluice

go 1.26.0

// Pure Go only, so the binary is static. Versions are pinned exactly: the module proxy these
// machines reach refuses some newer ones (modernc.org/sqlite v1.61.x breaks go mod tidy).
require (
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
	// CloudFormation templates (sluice lint): a YAML parser that keeps short-form tags (!Ref)
	// and the column of every node exactly. Already in the build through prometheus/common.
	go.yaml.in/yaml/v3 v3.0.5
	// The embedded store: SQLite without cgo.
	modernc.org/sqlite v1.60.1
)

require (
	github.com/dustin/go-humanize v1.0.1 // indirect
	github.com/google/uuid v1.6.0 // indirect
	github.com/inconshreveable/mousetrap v1.1.0 // indirect
	github.com/munnerz/goautoneg v0.0.0-20191010083416-a7dc8b61c822 // indirect
	github.com/ncruces/go-strftime v1.0.0 // indirect
	github.com/pandatix/go-abnf v0.5.3 // indirect
	github.com/prometheus/client_model v0.6.3 // indirect
	github.com/remyoudompheng/bigfft v0.0.0-20230129092748-24d4a6f8daec // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.43.0 // indirect
	google.golang.org/protobuf v1.36.12 // indirect
	modernc.org/libc v1.77.1 // indirect
	modernc.org/mathutil v1.7.1 // indirect
	modernc.org/memory v1.12.1 // indirect
)
