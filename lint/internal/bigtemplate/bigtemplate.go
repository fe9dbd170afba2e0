// Package bigtemplate writes large, valid CloudFormation templates for benchmarks: groups of
// ten resources (a key, an encrypted bucket with its TLS-only policy, a role, a function, a
// queue, a topic, a log group, an alarm, a security group) that refer to each other the way
// real stacks do. They pass every rule of `sluice lint`, and the Control Tower guard rules
// that check the same things (the TLS-only statement is written the way those rules read it).
package bigtemplate

import (
	"bytes"
	"fmt"
)

// Generate returns a YAML template of n resources (rounded up to a multiple of ten).
func Generate(n int) []byte {
	var b bytes.Buffer
	b.WriteString("AWSTemplateFormatVersion: \"2010-09-09\"\nDescription: generated for benchmarks\n")
	b.WriteString("Parameters:\n  Env:\n    Type: String\n    Default: dev\n  VpcId:\n    Type: AWS::EC2::VPC::Id\n")
	b.WriteString("Conditions:\n  IsProd: !Equals [!Ref Env, prod]\n")
	b.WriteString("Resources:\n")
	for g := 0; g*10 < n; g++ {
		fmt.Fprintf(&b, group, g)
	}
	b.WriteString("Outputs:\n  FirstBucket:\n    Value: !Ref Bucket0\n")
	return b.Bytes()
}

const group = `  Key%[1]d:
    Type: AWS::KMS::Key
    Properties:
      Description: key %[1]d
      EnableKeyRotation: true
      KeyPolicy:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              AWS: !Sub arn:${AWS::Partition}:iam::${AWS::AccountId}:root
            Action: kms:*
            Resource: "*"
  Bucket%[1]d:
    Type: AWS::S3::Bucket
    Properties:
      BucketEncryption:
        ServerSideEncryptionConfiguration:
          - ServerSideEncryptionByDefault:
              SSEAlgorithm: aws:kms
              KMSMasterKeyID: !GetAtt Key%[1]d.Arn
      PublicAccessBlockConfiguration:
        BlockPublicAcls: true
        BlockPublicPolicy: true
        IgnorePublicAcls: true
        RestrictPublicBuckets: true
      VersioningConfiguration:
        Status: Enabled
      Tags:
        - Key: group
          Value: "%[1]d"
  BucketPolicy%[1]d:
    Type: AWS::S3::BucketPolicy
    Properties:
      Bucket: !Ref Bucket%[1]d
      PolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Deny
            Principal: "*"
            Action: s3:*
            Resource:
              - !GetAtt [Bucket%[1]d, Arn]
              - !Join ["", [!GetAtt [Bucket%[1]d, Arn], "/*"]]
            Condition:
              Bool:
                aws:SecureTransport: "false"
  Role%[1]d:
    Type: AWS::IAM::Role
    Properties:
      AssumeRolePolicyDocument:
        Version: "2012-10-17"
        Statement:
          - Effect: Allow
            Principal:
              Service: lambda.amazonaws.com
            Action: sts:AssumeRole
      Policies:
        - PolicyName: work
          PolicyDocument:
            Version: "2012-10-17"
            Statement:
              - Effect: Allow
                Action: [s3:GetObject, s3:PutObject]
                Resource: !Sub "${Bucket%[1]d.Arn}/*"
              - Effect: Allow
                Action: [sqs:ReceiveMessage, sqs:DeleteMessage, sqs:GetQueueAttributes]
                Resource: !GetAtt Queue%[1]d.Arn
              - Effect: Allow
                Action: [kms:Decrypt, kms:GenerateDataKey]
                Resource: !GetAtt Key%[1]d.Arn
  Function%[1]d:
    Type: AWS::Lambda::Function
    DependsOn: [Role%[1]d]
    Properties:
      Runtime: provided.al2023
      Handler: bootstrap
      MemorySize: !If [IsProd, 1024, 256]
      Timeout: 30
      ReservedConcurrentExecutions: 5
      Role: !GetAtt Role%[1]d.Arn
      Code:
        S3Bucket: !Ref Bucket%[1]d
        S3Key: code.zip
      Environment:
        Variables:
          QUEUE: !Ref Queue%[1]d
          TOPIC: !Ref Topic%[1]d
  Queue%[1]d:
    Type: AWS::SQS::Queue
    Properties:
      VisibilityTimeout: 180
      KmsMasterKeyId: !Ref Key%[1]d
  Topic%[1]d:
    Type: AWS::SNS::Topic
    Properties:
      KmsMasterKeyId: !Ref Key%[1]d
      Subscription:
        - Protocol: sqs
          Endpoint: !GetAtt Queue%[1]d.Arn
  Logs%[1]d:
    Type: AWS::Logs::LogGroup
    Properties:
      LogGroupName: !Sub /aws/lambda/${Function%[1]d}
      RetentionInDays: 30
      KmsKeyId: !GetAtt Key%[1]d.Arn
  Alarm%[1]d:
    Type: AWS::CloudWatch::Alarm
    Properties:
      Namespace: AWS/Lambda
      MetricName: Errors
      Dimensions:
        - Name: FunctionName
          Value: !Ref Function%[1]d
      Statistic: Sum
      Period: 60
      EvaluationPeriods: 1
      Threshold: 1
      ComparisonOperator: GreaterThanOrEqualToThreshold
      AlarmActions: [!Ref Topic%[1]d]
  Group%[1]d:
    Type: AWS::EC2::SecurityGroup
    Properties:
      GroupDescription: web %[1]d
      VpcId: !Ref VpcId
      SecurityGroupIngress:
        - IpProtocol: tcp
          FromPort: 443
          ToPort: 443
          CidrIp: 0.0.0.0/0
      SecurityGroupEgress:
        - IpProtocol: tcp
          FromPort: 443
          ToPort: 443
          CidrIp: 0.0.0.0/0
`
