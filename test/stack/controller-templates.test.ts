import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { HeadObjectCommand } from "@aws-sdk/client-s3";
import { buildAgentBundle, renderLaunchTemplateData } from "../../bootstrap/index.ts";
import { poolSpec } from "../../config/pool-spec.ts";
import { poolRecord } from "../../config/records.ts";
import { controllerSettings } from "../../config/settings.ts";
import { bootstrapTemplateSource, launchTemplateInput } from "../../controller/cloud/node-templates.ts";
import { FakeClock } from "../../lib/clock.ts";
import { tempBucket } from "../helpers/temp-bucket.ts";

/**
 * The controller's launch templates come from bootstrap/: the bundle is published to the artifact bucket once, each
 * render presigns it and asks to be rendered again at half the URL's lifetime, and the user-data carries pool, table,
 * region, the non-secret node env and the agent timings. (A node booting from it is test/stack/e2e-rehearsal.test.ts.)
 */
let bucket: Awaited<ReturnType<typeof tempBucket>>;
before(async () => {
  bucket = await tempBucket("sf-tpl");
});
after(async () => bucket?.drop());

const spec = poolSpec.parse({
  kind: "Pool",
  name: "tpl",
  instanceTypes: ["m5.large"],
  subnets: ["subnet-a"],
  imageId: "ami-0abc",
  securityGroupIds: ["sg-01"],
  instanceProfileArn: "arn:aws:iam::000000000000:instance-profile/node",
  capacity: { max: 2 },
  tags: { team: "data" },
});
const pool = poolRecord.parse({ pool: "tpl", spec, generation: 3, desiredSize: 0, updatedAt: "2026-01-01T00:00:00Z" });

test("renders user-data from the published bundle and refreshes at half the presigned URL's lifetime", async () => {
  const clock = new FakeClock(Date.parse("2026-05-01T00:00:00Z"));
  const settings = controllerSettings.parse({
    stateTable: "state-tpl",
    artifactBucket: bucket.bucket,
    bundleUrlLifetime: "20m",
    nodeEnv: { AWS_ENDPOINT_URL_S3: "http://127.0.0.1:9000" },
    nodeAgent: { partitionLease: "30s", idleExitAfter: "5m", imdsPollInterval: 2 },
  });
  const logs: string[] = [];
  const source = bootstrapTemplateSource({
    s3: bucket.s3,
    clock,
    settings,
    region: "eu-west-1",
    bundle: await buildAgentBundle(),
    log: (l) => logs.push(l),
  });
  const { data, refreshAt } = await source.render(pool);
  assert.equal(refreshAt, clock.now() + 10 * 60_000, "re-rendered at half of 20 minutes");
  const published = await source.published();
  await bucket.s3.send(new HeadObjectCommand({ Bucket: bucket.bucket, Key: published.key }));
  const ud = data.userData;
  assert.match(ud, new RegExp(`BUNDLE_SHA256='${published.sha256}'`));
  assert.match(ud, /BUNDLE_URL='http:\/\/[^']*X-Amz-Expires=1200/);
  // The Node runtime of the pool's architecture is published next to it, and presigned the same way.
  const runtimeKey =
    /RUNTIME_URL='http:\/\/[^/]+\/[^/]+\/(spotferry\/runtime\/node-v[\d.]+-linux-x64\/([0-9a-f]{64})\/node\.tar\.gz)\?[^']*X-Amz-Expires=1200/.exec(
      ud,
    );
  assert.ok(runtimeKey?.[1], ud);
  assert.match(ud, new RegExp(`RUNTIME_SHA256='${runtimeKey[2]}'`));
  assert.match(ud, /RUNTIME_ARCH='x86_64'/);
  await bucket.s3.send(new HeadObjectCommand({ Bucket: bucket.bucket, Key: runtimeKey[1] }));
  assert.match(ud, /AGENT_FLAGS=\('--pool=tpl' '--state-table=state-tpl' '--lease=30s' '--idle-exit=300s' '--imds-poll=2s'\)/);
  // agent.env lines, single-quoted inside the script's own single quotes.
  assert.match(ud, /AWS_REGION='\\''eu-west-1'\\''/);
  assert.match(ud, /AWS_ENDPOINT_URL_S3='\\''http:\/\/127\.0\.0\.1:9000'\\''/);
  assert.doesNotMatch(ud, /SECRET|PASSWORD/);
  assert.equal(data.imageId, "ami-0abc");
  assert.deepEqual(data.securityGroupIds, ["sg-01"]);
  assert.equal(data.instanceProfileArn, spec.instanceProfileArn);
  assert.equal(data.tags?.["spotferry:generation"], "3");
  assert.equal(data.tags?.team, "data");

  // A second render publishes nothing new and presigns again.
  await source.render(pool);
  assert.equal(logs.filter((l) => l.includes("published to")).length, 2, "the bundle and the runtime, once each");

  // A secret-looking node env is refused at render time, naming the variable.
  const leaky = bootstrapTemplateSource({
    s3: bucket.s3,
    clock,
    settings: { ...settings, nodeEnv: { DB_PASSWORD: "x" } },
    region: "eu-west-1",
    bundle: await buildAgentBundle(),
  });
  await assert.rejects(leaky.render(pool), (err: Error) => /DB_PASSWORD/.test(String((err.cause as Error)?.message)));
});

test("the adapter keeps everything the cloud port takes from bootstrap's launch template data", () => {
  const data = renderLaunchTemplateData(spec, Buffer.from("#!/bin/bash\necho hi\n").toString("base64"), { generation: 7 });
  const input = launchTemplateInput(data);
  assert.equal(input.userData, "#!/bin/bash\necho hi\n");
  assert.equal(input.imageId, "ami-0abc");
  assert.equal(input.tags?.["spotferry:pool"], "tpl");
  assert.equal(input.tags?.["spotferry:generation"], "7");
  assert.throws(() => launchTemplateInput({ ImageId: "ami-0abc" }), /UserData/);
});
