package fakeaws_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/sts"

	"github.com/sluicehq/sluice/internal/awsclient"
	"github.com/sluicehq/sluice/internal/fakeaws"
)

// The tooling account assumes the prod account's deployment role, as Sluice does for each
// environment, and the fake records who called what.
func ExampleStart() {
	fake, err := fakeaws.Start(fakeaws.Config{
		Accounts: []string{"111111111111"},
		Roles:    []fakeaws.Role{{Account: "333333333333", Name: "hello-api-eu-west-1-DeploymentRole", Trusts: []string{"111111111111"}}},
	})
	if err != nil {
		panic(err)
	}
	defer fake.Close()
	keys, _ := fake.Root("111111111111")
	ctx := context.Background()
	tooling, err := config.LoadDefaultConfig(ctx, config.WithRegion("eu-west-1"), config.WithBaseEndpoint(fake.URL),
		config.WithCredentialsProvider(credentials.NewStaticCredentialsProvider(keys.AccessKeyID, keys.SecretAccessKey, "")),
		awsclient.LoadOption()) // as every configuration of Sluice: see internal/awsclient
	if err != nil {
		panic(err)
	}
	prod := tooling.Copy()
	prod.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(sts.NewFromConfig(tooling),
		"arn:aws:iam::333333333333:role/hello-api-eu-west-1-DeploymentRole",
		func(o *stscreds.AssumeRoleOptions) { o.RoleSessionName = "sluice-exec-1" }))
	id, err := sts.NewFromConfig(prod).GetCallerIdentity(ctx, &sts.GetCallerIdentityInput{})
	if err != nil {
		panic(err)
	}
	fmt.Println(*id.Arn)
	for _, c := range fake.Calls() {
		fmt.Printf("%s %s %s session=%q\n", c.Account, c.Service, c.Operation, c.SessionName)
	}
	// Output:
	// arn:aws:sts::333333333333:assumed-role/hello-api-eu-west-1-DeploymentRole/sluice-exec-1
	// 111111111111 sts AssumeRole session=""
	// 333333333333 sts GetCallerIdentity session="sluice-exec-1"
}
