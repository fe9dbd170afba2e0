package fakeaws

var (
	cloudFormationProtocol = unknownServiceProtocol
	kmsProtocol = unknownServiceProtocol
	codeDeployProtocol = unknownServiceProtocol
	lambdaProtocol = unknownServiceProtocol
	cloudWatchProtocol = unknownServiceProtocol
)
type s3Protocol struct{ *queryProtocol }
type s3Front struct{}
func newS3Front(*Server) *s3Front { return nil }
type hooks struct{}
