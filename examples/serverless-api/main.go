// Command serverless-api is the Lambda function of Sluice's bundled serverless route: an HTTP
// API (API Gateway HTTP API, payload format 2.0) that says which stage and version answered,
// so a deployment can be watched shifting the alias's traffic.
//
//	GET /         {"message":"hello from prod","stage":"prod","version":"7","artifact":"sha256:..."}
//	GET /healthz  ok
//
// Every answer carries the function version that served it in the X-Version header.
//
// It runs on Lambda's provided.al2023 runtime as a file named bootstrap, built with
// GOOS=linux CGO_ENABLED=0 go build -tags lambda.norpc -o dist/bootstrap . Its configuration is
// its environment: STAGE (from the template's Stage parameter; "local" if unset),
// ARTIFACT_DIGEST (the Sluice artifact it was built into, from the ArtifactDigest parameter),
// and AWS_LAMBDA_FUNCTION_VERSION, which Lambda sets.
package main

import (
	"os"

	"github.com/aws/aws-lambda-go/lambda"
)

func main() {
	lambda.Start(newHandler(configFromEnv(os.Getenv)).handle)
}
