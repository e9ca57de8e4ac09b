import { GSI1, TTL_ATTRIBUTE } from "../../lib/dynamo/keys.ts";
import { ExitCode, UserError } from "../../lib/errors.ts";
import { controllerPolicy, nodePolicy, type PolicyInput } from "../iam/policies.ts";
import { type CfnValue, getAtt, ref, sub, type Template, withSub } from "./cfn.ts";

/**
 * `spotferry deploy template`: what an account needs before the first export, as one CloudFormation template built
 * from the same config files (and so the same PolicyInput) as `spotferry iam policy`: the controller role (+ instance
 * profile), the node role + instance profile the pools name, the state table and the artifact bucket, and optionally
 * the controller as a scheduled Lambda function (container image). The roles' inline policies are exactly
 * controllerPolicy / nodePolicy, with pseudo-parameters substituted (withSub).
 */

const usage = (message: string) => new UserError(message, { exitCode: ExitCode.usage });

/** The node role and instance profile are created under the name and path the pools' instanceProfileArn names. */
export function nodeProfileName(input: PolicyInput): { arn: string; path: string; name: string } {
  const arns = [...new Set(input.pools.map((p) => p.instanceProfileArn))];
  if (arns.length !== 1 || arns[0] === undefined) {
    const got = arns.map((a) => a ?? "(none)").join(", ");
    throw usage(`--config: instanceProfileArn: every Pool must name the same node instance profile (the template creates it), got ${got}`);
  }
  const arn = arns[0];
  const m = /^arn:aws[a-z-]*:iam::[^:]*:instance-profile(\/(?:.+\/)?)([^/]+)$/.exec(arn);
  if (!m)
    throw usage(`--config: instanceProfileArn: expected arn:aws:iam::ACCOUNT:instance-profile/[PATH/]NAME, got ${JSON.stringify(arn)}`);
  return { arn, path: m[1]!, name: m[2]! };
}

const trust = (statements: { sid: string; service: string }[]): CfnValue => ({
  Version: "2012-10-17",
  Statement: statements.map((s) => ({ Sid: s.sid, Effect: "Allow", Principal: { Service: s.service }, Action: "sts:AssumeRole" })),
});

/** The state table exactly as lib/dynamo/table.ts createStateTable makes it, plus point-in-time recovery. */
function stateTable(tableName: string): CfnValue {
  const key = (hash: string, range: string) => [
    { AttributeName: hash, KeyType: "HASH" },
    { AttributeName: range, KeyType: "RANGE" },
  ];
  return {
    Type: "AWS::DynamoDB::Table",
    DeletionPolicy: "Retain",
    UpdateReplacePolicy: "Retain",
    Properties: {
      TableName: tableName,
      BillingMode: "PAY_PER_REQUEST",
      AttributeDefinitions: ["pk", "sk", "gsi1pk", "gsi1sk"].map((a) => ({ AttributeName: a, AttributeType: "S" })),
      KeySchema: key("pk", "sk"),
      GlobalSecondaryIndexes: [{ IndexName: GSI1, KeySchema: key("gsi1pk", "gsi1sk"), Projection: { ProjectionType: "ALL" } }],
      PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: true },
      SSESpecification: { SSEEnabled: true },
      // As createStateTable: items expire once retention (stateRetentionDays) writes the attribute.
      TimeToLiveSpecification: { AttributeName: TTL_ATTRIBUTE, Enabled: true },
    },
  };
}

function artifactBucket(bucket: string): CfnValue {
  return {
    Type: "AWS::S3::Bucket",
    DeletionPolicy: "Retain",
    UpdateReplacePolicy: "Retain",
    Properties: {
      BucketName: bucket,
      PublicAccessBlockConfiguration: {
        BlockPublicAcls: true,
        BlockPublicPolicy: true,
        IgnorePublicAcls: true,
        RestrictPublicBuckets: true,
      },
      BucketEncryption: { ServerSideEncryptionConfiguration: [{ ServerSideEncryptionByDefault: { SSEAlgorithm: "AES256" } }] },
      OwnershipControls: { Rules: [{ ObjectOwnership: "BucketOwnerEnforced" }] },
    },
  };
}

/** The controller as a scheduled Lambda function, created only when the LambdaImageUri parameter is set. */
function lambdaResources(input: PolicyInput): Record<string, CfnValue> {
  return {
    ControllerFunction: {
      Type: "AWS::Lambda::Function",
      Condition: "WithLambda",
      Properties: {
        Description: "spotferry: one controller pass per invocation (controller run --once)",
        PackageType: "Image",
        Code: { ImageUri: ref("LambdaImageUri") },
        Role: getAtt("ControllerRole", "Arn"),
        // A pass renders launch templates (bundling the agent with esbuild) and finalizes exports: minutes, not seconds.
        Timeout: 600,
        MemorySize: 2048,
        Environment: { Variables: { SPOTFERRY_SETTINGS_JSON: JSON.stringify(input.settings) } },
      },
    },
    ControllerSchedule: {
      Type: "AWS::Events::Rule",
      Condition: "WithLambda",
      Properties: {
        Description: "spotferry: runs the controller pass on a schedule",
        ScheduleExpression: ref("ScheduleExpression"),
        State: "ENABLED",
        Targets: [{ Id: "controller", Arn: getAtt("ControllerFunction", "Arn") }],
      },
    },
    ControllerSchedulePermission: {
      Type: "AWS::Lambda::Permission",
      Condition: "WithLambda",
      Properties: {
        Action: "lambda:InvokeFunction",
        FunctionName: ref("ControllerFunction"),
        Principal: "events.amazonaws.com",
        SourceArn: getAtt("ControllerSchedule", "Arn"),
      },
    },
  };
}

const DESCRIPTION =
  "spotferry: controller and node roles, instance profiles, state table and artifact bucket. Not created: the export " +
  "destination buckets and the MySQL password (secret or parameter): they are yours; the policies name them.";

/** The template for one PolicyInput (account/region may be ACCOUNT_REF / REGION_REF: then the ARNs use Fn::Sub). */
export function deployTemplate(input: PolicyInput): Template {
  const controller = withSub(controllerPolicy(input));
  const nodeDoc = withSub(nodePolicy(input));
  const node = nodeProfileName(input);
  const bucket = input.settings.artifactBucket;
  // biome-ignore lint/suspicious/noTemplateCurlyInString: CloudFormation's Fn::Sub placeholder, not JavaScript's
  const lambdaLogs = sub("arn:${AWS::Partition}:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole");
  const resources: Record<string, CfnValue> = {
    ControllerRole: {
      Type: "AWS::IAM::Role",
      Properties: {
        Description: "spotferry controller: systemd unit on EC2, container on ECS, or the scheduled Lambda function",
        AssumeRolePolicyDocument: trust([
          { sid: "SystemdUnitOnEc2", service: "ec2.amazonaws.com" },
          { sid: "ContainerOnEcs", service: "ecs-tasks.amazonaws.com" },
          { sid: "ScheduledLambda", service: "lambda.amazonaws.com" },
        ]),
        Policies: [{ PolicyName: "spotferry-controller", PolicyDocument: controller }],
        ManagedPolicyArns: { "Fn::If": ["WithLambda", [lambdaLogs], ref("AWS::NoValue")] },
      },
    },
    ControllerInstanceProfile: { Type: "AWS::IAM::InstanceProfile", Properties: { Roles: [ref("ControllerRole")] } },
    NodeRole: {
      Type: "AWS::IAM::Role",
      Properties: {
        Description: "spotferry node: the agent on each spot or on-demand instance",
        RoleName: node.name,
        Path: node.path,
        AssumeRolePolicyDocument: trust([{ sid: "NodeInstances", service: "ec2.amazonaws.com" }]),
        Policies: [{ PolicyName: "spotferry-node", PolicyDocument: nodeDoc }],
      },
    },
    NodeInstanceProfile: {
      Type: "AWS::IAM::InstanceProfile",
      Properties: { InstanceProfileName: node.name, Path: node.path, Roles: [ref("NodeRole")] },
    },
    StateTable: stateTable(input.settings.stateTable),
    ...(bucket ? { ArtifactBucket: artifactBucket(bucket) } : {}),
    ...lambdaResources(input),
  };
  const output = (description: string, value: CfnValue, condition?: string): CfnValue => ({
    Description: description,
    Value: value,
    ...(condition ? { Condition: condition } : {}),
  });
  const body: Record<string, CfnValue> = {
    AWSTemplateFormatVersion: "2010-09-09",
    Description: DESCRIPTION,
    Parameters: {
      LambdaImageUri: {
        Type: "String",
        Default: "",
        Description: "ECR image of deploy/Dockerfile's lambda target; empty: no Lambda function (run the unit or the container)",
      },
      ScheduleExpression: { Type: "String", Default: "rate(1 minute)", Description: "how often the Lambda function runs a pass" },
    },
    Conditions: { WithLambda: { "Fn::Not": [{ "Fn::Equals": [ref("LambdaImageUri"), ""] }] } },
    Resources: resources,
    Outputs: {
      ControllerRoleArn: output("controller role", getAtt("ControllerRole", "Arn")),
      ControllerInstanceProfileArn: output("controller instance profile (systemd unit on EC2)", getAtt("ControllerInstanceProfile", "Arn")),
      NodeRoleArn: output("node role (iam:PassRole target)", getAtt("NodeRole", "Arn")),
      NodeInstanceProfileArn: output("node instance profile: the pools' instanceProfileArn", getAtt("NodeInstanceProfile", "Arn")),
      StateTableName: output("state table: ControllerSettings.stateTable / $SPOTFERRY_STATE_TABLE", ref("StateTable")),
      ...(bucket ? { ArtifactBucketName: output("artifact bucket: ControllerSettings.artifactBucket", ref("ArtifactBucket")) } : {}),
      ControllerFunctionArn: output("the scheduled controller function", getAtt("ControllerFunction", "Arn"), "WithLambda"),
    },
  };
  return { body, comments: templateComments(node.arn, bucket), header: templateHeader() };
}

function templateHeader(): string {
  return [
    "Printed by `spotferry deploy template`; the roles' policies are those of `spotferry iam policy` for the same --config files.",
    "Deploy: aws cloudformation deploy --template-file FILE --stack-name spotferry --capabilities CAPABILITY_NAMED_IAM",
    "Not created here: the export destination buckets and the MySQL password secret/parameter (yours; the policies name them).",
  ].join("\n");
}

function templateComments(profileArn: string, bucket: string | undefined): Record<string, string> {
  return {
    "Resources.ControllerRole": [
      "Assumable by three services, one per way to run the controller (deploy/README.md):",
      "ec2.amazonaws.com: the systemd unit on an instance (through ControllerInstanceProfile);",
      "ecs-tasks.amazonaws.com: the container image as an ECS task role;",
      "lambda.amazonaws.com: the scheduled Lambda function (which also gets the basic execution role for its logs).",
    ].join("\n"),
    "Resources.NodeRole": `Named like the pools' instanceProfileArn (${profileArn}): the controller passes it by that name.`,
    "Resources.StateTable": "Key schema and GSI as lib/dynamo/table.ts creates it; the controller writes its layout item on first start.",
    ...(bucket
      ? {
          "Resources.ArtifactBucket": [
            "Agent bundles under spotferry/agent/<sha256>/. No expiry rule: a running controller keeps presigning the bundle",
            "it published at start, so an expired one would stop new nodes from booting.",
          ].join("\n"),
        }
      : {}),
    "Resources.ControllerFunction": [
      "A container image, not a zip: a pass bundles the agent from the sources with esbuild and publishes it with the",
      "Node runtimes, more than a zip's 250 MB.",
    ].join("\n"),
  };
}
