import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { RunInstancesCommand, EC2Client } from "@aws-sdk/client-ec2";
import { startSim } from "../sim/server.ts";
const sim = await startSim({ timeScale: 0.1, stateDir: "/tmp/dbgsim" });
const ec2 = new EC2Client({ region: "us-east-1", endpoint: sim.url, credentials: { accessKeyId: "a", secretAccessKey: "b" } });
const ud = `#!/bin/bash
echo "-----BEGIN SSH HOST KEY FINGERPRINTS-----"
ssh-keygen -l -E sha256 -f "$SPOTFERRY_SSH_HOST_KEY"
echo "-----END SSH HOST KEY FINGERPRINTS-----"
echo hello > agent.log
sleep 60
`;
const r = await ec2.send(new RunInstancesCommand({ ImageId: "ami-12345678", InstanceType: "m5.large", MinCount: 1, MaxCount: 1, UserData: Buffer.from(ud).toString("base64") }));
const id = r.Instances![0]!.InstanceId!;
await new Promise((res) => setTimeout(res, 4000));
try {
  const out = await promisify(execFile)(process.execPath, ["bin/spotferry.mjs", "logs", id, "--lines", "5", "--state-table", "x"], { env: { ...process.env, AWS_ENDPOINT_URL_EC2: sim.url, SPOTFERRY_DEBUG: "1" }, encoding: "utf8" });
  console.log("OUT", out.stdout);
} catch (e) { console.log("ERR", (e as any).stderr, (e as any).stdout); }
await sim.stop();
