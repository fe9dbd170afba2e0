// Package fakeaws is a fake AWS for tests and for `sluice demo --aws`: one HTTP server on
// 127.0.0.1 that speaks the wire protocols aws-sdk-go-v2 speaks, checks every request's
// Signature Version 4 and keeps state per account and region, so that the aws target is tested
// through the real SDK clients, pointed at it with the SDK's own endpoint setting
// (AWS_ENDPOINT_URL, or config.WithBaseEndpoint; S3 also needs UsePathStyle). Load those
// clients with internal/awsclient's option, as Sluice does: the fake answers on loopback quickly
// enough that, without it, the SDK now and then reads a response on a connection net/http has
// just closed ("use of closed network connection"; the package doc of awsclient says why).
//
// The map:
//
//	server.go      Start, Config, accounts and their root keys, the call record (Calls)
//	sigv4.go       the signature check: key, session token and its expiry, date skew, the
//	               canonical request recomputed from the key's secret
//	wire.go        the awsQuery (XML) and awsJson1_1 protocols, errors in each protocol's shape
//	sts.go         AssumeRole (roles, their trusted accounts and external ID), GetCallerIdentity
//	template.go    CloudFormation templates in JSON or YAML (short-form tags), checked
//	stack.go       stacks, change sets, the property diff, intrinsic functions resolved to
//	               fake values
//	stackrun.go    a change set's execution, step by step, with events and rollback
//	cloudformation.go  CreateChangeSet, DescribeChangeSet, ExecuteChangeSet, DeleteChangeSet,
//	               ListChangeSets, DescribeStacks, DescribeStackEvents, DeleteStack
//	resources.go   DescribeStackResource
//	lambda.go      REST-JSON: GetFunction, UpdateFunctionCode, PublishVersion, GetAlias,
//	               CreateAlias, UpdateAlias, DeleteAlias, Invoke; every alias state recorded
//	kms.go         JSON: Encrypt, Decrypt, GenerateDataKey, DescribeKey (real AES-GCM)
//	cloudwatch.go  Smithy RPC v2 CBOR: DescribeAlarms, GetMetricData
//	codedeploy.go  JSON: GetDeployment, StopDeployment, ListDeployments
//	s3.go          REST-XML through gofakes3: one store per account, SSE-KMS checked
//	hooks.go       what tests arrange and read: failures on demand, alarm states, metric
//	               values, the Invoke answer, deployments, alias history
//	execute.go     Config.Execution, off by default: functions' real code run through
//	               lambdarun, Lambda's metrics recorded from it, alarms evaluated from them,
//	               stacks' HTTP APIs served on loopback
//
// Who may do what: each account has root keys (Server.Root). STS AssumeRole gives temporary
// keys and a session token in the role's account, expiring after DurationSeconds or
// Config.SessionLifetime. A request's account is the account of the key that signed it, and it
// sees and changes only that account's state: another account's stack, function, alarm,
// deployment or key is not found (a function or key named by its ARN is refused with
// AccessDeniedException), and another account's bucket is refused with AccessDenied. Each call is recorded with its account, service, operation and
// role session name, refused ones too (with their error code).
//
// Refusals use AWS's codes in each protocol's shape, so the SDK returns its typed errors:
// SignatureDoesNotMatch, InvalidClientTokenId and ExpiredToken in the query protocols and
// CloudWatch (which is query-compatible), InvalidSignatureException, UnrecognizedClientException
// and ExpiredTokenException in the JSON ones, InvalidAccessKeyId and ExpiredToken in S3.
// Parameters are checked as AWS checks them, with its messages where they are known.
//
// CloudFormation: a change set is CREATE_PENDING, then CREATE_IN_PROGRESS, then
// CREATE_COMPLETE (or FAILED with "didn't contain changes"), each after Config.ChangeSetDelay;
// an execution role (RoleARN) must be one of the fake's roles in the stack's account.
// Its changes come from diffing the template's resources with the stack's, parameters
// resolved: Add, Modify (with one detail per changed property, before and after values when
// IncludePropertyValues, and Replacement from a table of replacing properties) and Remove.
// Executing a change set moves the stack through CREATE_IN_PROGRESS → CREATE_COMPLETE or
// UPDATE_IN_PROGRESS → UPDATE_COMPLETE_CLEANUP_IN_PROGRESS → UPDATE_COMPLETE, one resource per
// Config.StackStepDelay, and deletes the stack's other change sets. A resource made to fail
// (Server.FailResource) rolls the stack back (ROLLBACK_COMPLETE, UPDATE_ROLLBACK_COMPLETE); a
// rollback made to fail (Server.FailRollback) ends ROLLBACK_FAILED or UPDATE_ROLLBACK_FAILED.
// Outputs resolve Ref, Fn::GetAtt, Fn::Sub, Fn::Join, Fn::Select, Fn::FindInMap and Fn::Base64
// to fake values (an HTTP API's ID, a function's ARN). Stacks make their AWS::Lambda::Function and
// AWS::Serverless::Function resources into Lambda functions (AutoPublishAlias publishes a
// version and points the alias at it) and their AWS::CloudWatch::Alarm resources into alarms.
// A SAM function with a DeploymentPreference moves its alias through a CodeDeploy deployment
// instead: the stack adds ServerlessDeploymentApplication and <Function>DeploymentGroup, the
// deployment stays InProgress (the alias on the old version) until a test finishes it
// (Server.FinishDeployment) or StopDeployment stops it, and the function's update waits for it:
// a deployment that fails or stops fails the update, and the stack rolls back.
//
// Conditions are evaluated (Fn::Equals over parameters and pseudo parameters, Fn::Not, Fn::And,
// Fn::Or, Condition): a resource or output whose condition is false is left out, and Fn::If
// picks its branch (AWS::NoValue removes a property) before the diff.
//
// Limits, on purpose: templates come as TemplateBody only (no TemplateURL), with no nested
// stacks, imports or IMPORT change sets; SAM is accepted and its
// implicit resources (ServerlessHttpApi, the function's role, alias and version) may be
// referred to, but the change set lists the template's own resources, not the transformed
// ones. Other resource types exist only as stack resources. A CodeDeploy deployment does not
// shift the alias's weights while in progress, and a DeploymentPreference's Hooks and Alarms
// are not run. An UpdateFunctionCode is InProgress for Config.LambdaUpdateDelay
// (PublishVersion meanwhile is a ResourceConflictException, as in Lambda); functions a stack
// updates are Successful at once. CloudWatch alarms change state when tests set it or inject
// points of their metric (each of the last EvaluationPeriods periods breaching: ALARM), or,
// with Config.Execution, from the metrics of real invocations; GetMetricData returns those
// points (no metric math, no alarms on expressions). KMS keys have no policies and are
// not shared across accounts; S3 buckets have no policies beyond Server.RequireSSEKMS. Only
// header-signed SigV4 is accepted (no presigned URLs, no SigV4A).
package fakeaws
