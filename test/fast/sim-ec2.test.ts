import assert from "node:assert/strict";
import { test } from "node:test";
import {
  CreateLaunchTemplateCommand,
  type CreateLaunchTemplateRequest,
  CreateLaunchTemplateVersionCommand,
  CreateTagsCommand,
  DescribeAvailabilityZonesCommand,
  DescribeInstancesCommand,
  DescribeInstanceTypesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  DescribeSpotPriceHistoryCommand,
  DescribeSubnetsCommand,
  type EC2Client,
  paginateDescribeInstances,
  RunInstancesCommand,
  TerminateInstancesCommand,
} from "@aws-sdk/client-ec2";
import { b64, signedFetch, testSim, waitFor } from "../helpers/sim.ts";

/** Every EC2 call the controller uses, through the real SDK client against the sim's Query protocol. */

async function rejects(promise: Promise<unknown>, name: string, status?: number): Promise<Error> {
  const err = await promise.then(
    () => assert.fail(`expected ${name}`),
    (e: Error & { $metadata?: { httpStatusCode?: number } }) => e,
  );
  assert.equal(err.name, name, `${err.name}: ${err.message}`);
  if (status !== undefined) assert.equal(err.$metadata?.httpStatusCode, status);
  return err;
}

const stateOf = async (ec2: EC2Client, id: string) =>
  (await ec2.send(new DescribeInstancesCommand({ InstanceIds: [id] }))).Reservations?.[0]?.Instances?.[0];

test("launch templates: create, version, describe, and the errors EC2 returns", async (t) => {
  const { ec2 } = await testSim(t);
  const created = await ec2.send(
    new CreateLaunchTemplateCommand({
      LaunchTemplateName: "pool-etl",
      LaunchTemplateData: { InstanceType: "m5.large", ImageId: "ami-0123456789abcdef0", UserData: b64("echo v1\n") },
      TagSpecifications: [{ ResourceType: "launch-template", Tags: [{ Key: "team", Value: "data" }] }],
    }),
  );
  const id = created.LaunchTemplate?.LaunchTemplateId ?? "";
  assert.match(id, /^lt-[0-9a-f]{17}$/);
  assert.equal(created.LaunchTemplate?.LatestVersionNumber, 1);

  const v2 = await ec2.send(
    new CreateLaunchTemplateVersionCommand({
      LaunchTemplateId: id,
      SourceVersion: "1",
      VersionDescription: "new user data",
      LaunchTemplateData: { UserData: b64("echo v2\n") },
    }),
  );
  assert.equal(v2.LaunchTemplateVersion?.VersionNumber, 2);
  assert.equal(v2.LaunchTemplateVersion?.DefaultVersion, false);
  // The source version's settings carry over; the override wins.
  assert.equal(v2.LaunchTemplateVersion?.LaunchTemplateData?.InstanceType, "m5.large");
  assert.equal(v2.LaunchTemplateVersion?.LaunchTemplateData?.UserData, b64("echo v2\n"));

  const byName = await ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: ["pool-etl"] }));
  assert.equal(byName.LaunchTemplates?.[0]?.LatestVersionNumber, 2);
  assert.deepEqual(byName.LaunchTemplates?.[0]?.Tags, [{ Key: "team", Value: "data" }]);
  const byTag = await ec2.send(new DescribeLaunchTemplatesCommand({ Filters: [{ Name: "tag:team", Values: ["data"] }] }));
  assert.equal(byTag.LaunchTemplates?.length, 1);

  const latest = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateId: id, Versions: ["$Latest"] }));
  assert.equal(latest.LaunchTemplateVersions?.[0]?.VersionNumber, 2);
  const all = await ec2.send(new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: "pool-etl" }));
  assert.deepEqual(
    all.LaunchTemplateVersions?.map((v) => v.VersionNumber),
    [2, 1],
  );

  await rejects(
    ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: "pool-etl", LaunchTemplateData: { InstanceType: "m5.large" } })),
    "InvalidLaunchTemplateName.AlreadyExistsException",
    400,
  );
  await rejects(
    ec2.send(new DescribeLaunchTemplatesCommand({ LaunchTemplateIds: ["lt-0123456789abcdef0"] })),
    "InvalidLaunchTemplateId.NotFound",
  );
  await rejects(
    ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: "x", LaunchTemplateData: { InstanceType: "m5.large" } })),
    "InvalidParameterValue",
  );
  await rejects(
    ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: "no-data" } as CreateLaunchTemplateRequest)),
    "MissingParameter",
  );
  await rejects(
    ec2.send(new CreateLaunchTemplateCommand({ LaunchTemplateName: "bad-ud", LaunchTemplateData: { UserData: "not base64!" } })),
    "InvalidUserData.Malformed",
  );
  await rejects(
    ec2.send(
      new CreateLaunchTemplateCommand({
        LaunchTemplateName: "big-ud",
        LaunchTemplateData: { UserData: b64("x".repeat(16385)) },
      }),
    ),
    "InvalidParameterValue",
  );
});

test("RunInstances, DescribeInstances filters and pagination, tags, termination with EC2's states and reasons", async (t) => {
  const { ec2 } = await testSim(t, { bootDelaySec: 5 });
  const run = await ec2.send(
    new RunInstancesCommand({
      ImageId: "ami-0123456789abcdef0",
      InstanceType: "c5.large",
      MinCount: 7,
      MaxCount: 7,
      SubnetId: "subnet-b",
      InstanceMarketOptions: { MarketType: "spot" },
      TagSpecifications: [{ ResourceType: "instance", Tags: [{ Key: "spotferry:pool", Value: "p1" }] }],
    }),
  );
  const ids = run.Instances?.map((i) => i.InstanceId ?? "") ?? [];
  assert.equal(ids.length, 7);
  assert.equal(run.Instances?.[0]?.State?.Name, "pending");
  assert.equal(run.Instances?.[0]?.Placement?.AvailabilityZone, "us-east-1b");
  assert.equal(run.Instances?.[0]?.InstanceLifecycle, "spot");
  await ec2.send(new RunInstancesCommand({ ImageId: "ami-0123456789abcdef0", InstanceType: "m5.large", MinCount: 1, MaxCount: 1 }));

  await waitFor("instances running", async () => (await stateOf(ec2, ids[6] ?? ""))?.State?.Name === "running");

  // Paginated through the SDK's own paginator: 8 instances in pages of 5.
  const pages: number[] = [];
  const seen: string[] = [];
  for await (const page of paginateDescribeInstances({ client: ec2, pageSize: 5 }, {})) {
    const inPage = page.Reservations?.flatMap((r) => r.Instances ?? []) ?? [];
    pages.push(inPage.length);
    seen.push(...inPage.map((i) => i.InstanceId ?? ""));
  }
  assert.deepEqual(pages, [5, 3]);
  assert.equal(new Set(seen).size, 8);

  const pool = await ec2.send(
    new DescribeInstancesCommand({
      Filters: [
        { Name: "tag:spotferry:pool", Values: ["p1"] },
        { Name: "instance-state-name", Values: ["pending", "running"] },
      ],
    }),
  );
  assert.equal(pool.Reservations?.flatMap((r) => r.Instances ?? []).length, 7);
  const byKey = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "tag-key", Values: ["spotferry:pool"] }] }));
  assert.equal(byKey.Reservations?.flatMap((r) => r.Instances ?? []).length, 7);
  const byId = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "instance-id", Values: [ids[0] ?? ""] }] }));
  assert.equal(byId.Reservations?.[0]?.Instances?.[0]?.InstanceId, ids[0]);

  await ec2.send(new CreateTagsCommand({ Resources: [ids[0] ?? ""], Tags: [{ Key: "role", Value: "leader" }] }));
  const tagged = await ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "tag:role", Values: ["lead*"] }] }));
  assert.equal(tagged.Reservations?.[0]?.Instances?.[0]?.InstanceId, ids[0]);

  const term = await ec2.send(new TerminateInstancesCommand({ InstanceIds: [ids[0] ?? ""] }));
  assert.equal(term.TerminatingInstances?.[0]?.PreviousState?.Name, "running");
  assert.equal(term.TerminatingInstances?.[0]?.CurrentState?.Name, "shutting-down");
  const gone = await waitFor("terminated", async () => {
    const i = await stateOf(ec2, ids[0] ?? "");
    return i?.State?.Name === "terminated" ? i : undefined;
  });
  assert.equal(gone.State?.Code, 48);
  assert.equal(gone.StateReason?.Code, "Client.UserInitiatedShutdown");
  assert.match(gone.StateTransitionReason ?? "", /^User initiated/);

  // Unknown and malformed ids arrive as SDK exceptions named by EC2's error code.
  await rejects(ec2.send(new DescribeInstancesCommand({ InstanceIds: ["i-0123456789abcdef0"] })), "InvalidInstanceID.NotFound", 400);
  await rejects(ec2.send(new TerminateInstancesCommand({ InstanceIds: ["i-0123456789abcdef0"] })), "InvalidInstanceID.NotFound");
  await rejects(ec2.send(new DescribeInstancesCommand({ InstanceIds: ["bogus"] })), "InvalidInstanceID.Malformed");
  await rejects(ec2.send(new DescribeInstancesCommand({ Filters: [{ Name: "colour", Values: ["x"] }] })), "InvalidParameterValue");
  await rejects(ec2.send(new DescribeInstancesCommand({ MaxResults: 2 })), "InvalidParameterValue");
  await rejects(ec2.send(new DescribeInstancesCommand({ InstanceIds: [ids[1] ?? ""], MaxResults: 5 })), "InvalidParameterCombination");
  await rejects(
    ec2.send(new CreateTagsCommand({ Resources: [ids[1] ?? ""], Tags: [{ Key: "aws:reserved", Value: "x" }] })),
    "InvalidParameterValue",
  );
  await rejects(ec2.send(new RunInstancesCommand({ InstanceType: "m5.large", MinCount: 1, MaxCount: 1 })), "MissingParameter");
  await rejects(
    ec2.send(new RunInstancesCommand({ ImageId: "ami-0123456789abcdef0", InstanceType: "p5.48xlarge", MinCount: 1, MaxCount: 1 })),
    "InvalidParameterValue",
  );
});

test("RequestLimitExceeded is injectable and the SDK retries it as throttling", async (t) => {
  const { ec2, sim, root } = await testSim(t);
  sim.world.chaos.throttle(1, ["DescribeInstances"]);
  await rejects(ec2.send(new DescribeInstancesCommand({})), "RequestLimitExceeded", 503);
  await ec2.send(new DescribeInstancesCommand({}));
  sim.world.chaos.throttle(2);
  const { EC2Client } = await import("@aws-sdk/client-ec2");
  const patient = new EC2Client({
    region: "us-east-1",
    endpoint: sim.url,
    credentials: root,
    maxAttempts: 4,
    retryStrategy: undefined,
  });
  t.after(() => patient.destroy());
  const out = await patient.send(new DescribeInstanceTypesCommand({ InstanceTypes: ["m5.large"] }));
  assert.equal(out.$metadata.attempts, 3);
  assert.equal(sim.world.events.list(0, ["throttled"]).length, 3);
});

test("market reads: instance types, spot price history, zones and subnets", async (t) => {
  const { ec2, sim } = await testSim(t);
  const types = await ec2.send(new DescribeInstanceTypesCommand({}));
  assert.equal(types.InstanceTypes?.length, 12);
  const m5 = await ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ["m5.xlarge"] }));
  assert.equal(m5.InstanceTypes?.[0]?.VCpuInfo?.DefaultVCpus, 4);
  assert.equal(m5.InstanceTypes?.[0]?.MemoryInfo?.SizeInMiB, 16384);
  assert.deepEqual(m5.InstanceTypes?.[0]?.SupportedUsageClasses, ["on-demand", "spot"]);
  await rejects(ec2.send(new DescribeInstanceTypesCommand({ InstanceTypes: ["z9.huge" as "m5.large"] })), "InvalidInstanceType");

  sim.world.chaos.setPrice("m5.large", "us-east-1a", 0.05);
  const history = await ec2.send(
    new DescribeSpotPriceHistoryCommand({
      InstanceTypes: ["m5.large"],
      ProductDescriptions: ["Linux/UNIX"],
      Filters: [{ Name: "availability-zone", Values: ["us-east-1a"] }],
    }),
  );
  const prices = history.SpotPriceHistory?.map((p) => p.SpotPrice);
  assert.equal(prices?.[0], "0.050000");
  assert.equal(prices?.length, 2);
  assert.ok(history.SpotPriceHistory?.[0]?.Timestamp instanceof Date);
  const now = await ec2.send(new DescribeSpotPriceHistoryCommand({ StartTime: new Date(), InstanceTypes: ["c5.large"] }));
  assert.equal(now.SpotPriceHistory?.length, 3, "one current price per zone");

  const zones = await ec2.send(new DescribeAvailabilityZonesCommand({}));
  assert.deepEqual(
    zones.AvailabilityZones?.map((z) => z.ZoneName),
    ["us-east-1a", "us-east-1b", "us-east-1c"],
  );
  const subnets = await ec2.send(new DescribeSubnetsCommand({ SubnetIds: ["subnet-a", "subnet-0f00dfeed"] }));
  assert.equal(subnets.Subnets?.[0]?.AvailabilityZone, "us-east-1a");
  assert.match(subnets.Subnets?.[1]?.AvailabilityZone ?? "", /^us-east-1[abc]$/);
});

test("raw wire: unknown parameters and actions are refused with EC2's XML error envelope", async (t) => {
  const { sim, root } = await testSim(t);
  const post = (body: string) => signedFetch(sim.url, { service: "ec2", body, credentials: root });
  const unsigned = await fetch(sim.url, { method: "POST", body: "Action=DescribeInstances&Version=2016-11-15" });
  assert.equal(unsigned.status, 403);
  assert.match(await unsigned.text(), /<Code>MissingAuthenticationToken<\/Code>/);
  const unknown = await post("Action=DescribeInstances&Version=2016-11-15&Colour=blue");
  assert.equal(unknown.status, 400);
  const text = await unknown.text();
  assert.match(text, /<Response><Errors><Error><Code>UnknownParameter<\/Code><Message>[^<]*Colour/);
  assert.match(text, /<RequestID>[0-9a-f-]{36}<\/RequestID><\/Response>$/);
  const ok = await (await post("Action=DescribeAvailabilityZones&Version=2016-11-15")).text();
  assert.match(ok, /^<\?xml[^>]*>\n<DescribeAvailabilityZonesResponse xmlns="http:\/\/ec2.amazonaws.com\/doc\/2016-11-15\/">/);
  assert.match(ok, /<availabilityZoneInfo><item>.*<zoneName>us-east-1a<\/zoneName>/);
  const bad = await post("Action=LaunchRockets&Version=2016-11-15");
  assert.match(await bad.text(), /<Code>InvalidAction<\/Code>/);
});
