//go:build unix

package runner_test

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/sluicehq/sluice/runner"
)

func ExampleRun() {
	res, err := runner.Run(context.Background(), runner.Command{
		Name:    `check "greet"`,
		Shell:   `echo "hello, $WHO"; echo "token: $TOKEN" >&2; exit 2`,
		Env:     []string{"WHO=world", "TOKEN=s3cr3t-value"},
		Secrets: []string{"s3cr3t-value"},
		Timeout: time.Minute,
		Output:  os.Stdout,
	})
	fmt.Println(res.ExitCode, res.TimedOut)
	fmt.Println(err)
	// Output:
	// hello, world
	// token: ***
	// 2 false
	// check "greet" failed with exit code 2
}

func ExampleNewMaskWriter() {
	w := runner.NewMaskWriter(os.Stdout, []string{"hunter2-token"})
	fmt.Fprint(w, "login with hunt")
	fmt.Fprint(w, "er2-token\n")
	w.Close()
	// Output:
	// login with ***
}
