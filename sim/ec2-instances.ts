import { closeSync, fstatSync, openSync, readSync } from "node:fs";
import { join } from "node:path";
import {
  type _InstanceType,
  CreateTags$,
  type CreateTagsRequest,
  DeleteTags$,
  type DeleteTagsRequest,
  DescribeInstances$,
  type DescribeInstancesRequest,
  type DescribeInstancesResult,
  GetConsoleOutput$,
  type GetConsoleOutputRequest,
  type GetConsoleOutputResult,
  type Instance,
  type InstanceStateName,
  type Reservation,
  TerminateInstances$,
  type TerminateInstancesRequest,
  type TerminateInstancesResult,
} from "@aws-sdk/client-ec2";
import { applyFilters, checkTag, type Ec2Operation, op, paginate, toTags } from "./ec2-common.ts";
import { combination, Ec2Error, missing } from "./ec2-errors.ts";
import { REASONS, type SimInstance, STATE_CODES } from "./instances.ts";
import type { World } from "./world.ts";

/** Describing, tagging and terminating instances. */
const INSTANCE_ID = /^i-[0-9a-f]{8,17}$/;

export function sdkInstance(i: SimInstance): Instance {
  return {
    InstanceId: i.id,
    ImageId: i.imageId,
    InstanceType: i.type as _InstanceType,
    State: { Code: STATE_CODES[i.state], Name: i.state as InstanceStateName },
    StateReason: i.stateReason ? { Code: i.stateReason.code, Message: i.stateReason.message } : undefined,
    StateTransitionReason: i.stateTransitionReason,
    LaunchTime: new Date(i.launchTime),
    Placement: { AvailabilityZone: i.zone, Tenancy: "default" },
    SubnetId: i.state === "terminated" ? undefined : i.subnetId,
    VpcId: i.state === "terminated" ? undefined : "vpc-0sim000000000000",
    PrivateIpAddress: i.state === "terminated" ? undefined : i.privateIp,
    PrivateDnsName: i.state === "terminated" ? "" : `ip-${i.privateIp.replaceAll(".", "-")}.ec2.internal`,
    InstanceLifecycle: i.lifecycle === "spot" ? "spot" : undefined,
    SpotInstanceRequestId: i.lifecycle === "spot" ? `sir-${i.id.slice(2, 10)}` : undefined,
    KeyName: i.keyName,
    IamInstanceProfile: i.instanceProfileArn ? { Arn: i.instanceProfileArn } : undefined,
    AmiLaunchIndex: 0,
    Architecture: "x86_64",
    Hypervisor: "xen",
    RootDeviceType: "ebs",
    VirtualizationType: "hvm",
    Tags: i.tagMap.size ? toTags(i.tagMap) : undefined,
    MetadataOptions: { HttpTokens: "required", HttpEndpoint: "enabled", State: "applied", InstanceMetadataTags: "enabled" },
  };
}

/** Resolves ids the way EC2 does: malformed ids and unknown ids are errors naming every offender. */
export function findInstances(w: World, ids: string[]): SimInstance[] {
  const malformed = ids.filter((id) => !INSTANCE_ID.test(id));
  if (malformed.length) {
    throw new Ec2Error("InvalidInstanceID.Malformed", `Invalid id: "${malformed[0]}" (expecting "i-...")`);
  }
  const missingIds = ids.filter((id) => !w.instances.get(id));
  if (missingIds.length === 1) {
    throw new Ec2Error("InvalidInstanceID.NotFound", `The instance ID '${missingIds[0]}' does not exist`);
  }
  if (missingIds.length > 1) {
    throw new Ec2Error("InvalidInstanceID.NotFound", `The instance IDs '${missingIds.join(", ")}' do not exist`);
  }
  return ids.map((id) => w.instances.get(id) as SimInstance);
}

function describeInstances(w: World, input: DescribeInstancesRequest): DescribeInstancesResult {
  if (input.InstanceIds?.length && input.MaxResults !== undefined) {
    throw combination("The parameter instancesSet cannot be used with the parameter maxResults");
  }
  const base = input.InstanceIds?.length ? findInstances(w, [...new Set(input.InstanceIds)]) : w.instances.list();
  const filtered = applyFilters(
    base,
    input.Filters,
    {
      "instance-id": (i) => i.id,
      "instance-state-name": (i) => i.state,
      "instance-state-code": (i) => String(STATE_CODES[i.state]),
      "instance-type": (i) => i.type,
      "instance-lifecycle": (i) => (i.lifecycle === "spot" ? "spot" : undefined),
      "availability-zone": (i) => i.zone,
      "subnet-id": (i) => i.subnetId,
      "image-id": (i) => i.imageId,
      "reservation-id": (i) => i.reservationId,
      "private-ip-address": (i) => i.privateIp,
      "state-reason-code": (i) => i.stateReason?.code,
    },
    (i) => i.tagMap,
  );
  const { page, NextToken } = paginate(filtered, input, [input.Filters, input.InstanceIds], { min: 5, max: 1000 });
  // Instances come back grouped by the reservation they were launched in, in launch order.
  const reservations = new Map<string, Reservation>();
  for (const inst of page) {
    let r = reservations.get(inst.reservationId);
    if (!r) {
      r = { ReservationId: inst.reservationId, OwnerId: "000000000000", Groups: [], Instances: [] };
      reservations.set(inst.reservationId, r);
    }
    r.Instances?.push(sdkInstance(inst));
  }
  return { Reservations: [...reservations.values()], NextToken };
}

function terminateInstances(w: World, input: TerminateInstancesRequest): TerminateInstancesResult {
  if (!input.InstanceIds?.length) throw missing("InstanceId");
  const insts = findInstances(w, input.InstanceIds);
  return {
    TerminatingInstances: insts.map((inst) => {
      const previous = inst.state;
      w.instances.shutdown(inst, REASONS.user, { by: "user" });
      if (previous !== inst.state) w.events.add("terminate-requested", { instanceId: inst.id });
      return {
        InstanceId: inst.id,
        PreviousState: { Code: STATE_CODES[previous], Name: previous as InstanceStateName },
        CurrentState: { Code: STATE_CODES[inst.state], Name: inst.state as InstanceStateName },
      };
    }),
  };
}

/** Tags instances (and launch templates); other resource ids are accepted and ignored, as the sim has none. */
function changeTags(w: World, resources: string[] | undefined, apply: (tags: Map<string, string>) => void): object {
  if (!resources?.length) throw missing("ResourceId");
  const instances = findInstances(
    w,
    resources.filter((r) => r.startsWith("i-")),
  );
  for (const inst of instances) apply(inst.tagMap);
  for (const r of resources.filter((x) => x.startsWith("lt-"))) {
    const t = w.templates.find({ LaunchTemplateId: r });
    const m = new Map(t.tags.map((x) => [x.Key ?? "", x.Value ?? ""]));
    apply(m);
    t.tags = toTags(m);
  }
  return {};
}

/** EC2 keeps the most recent 64 KiB of an instance's serial console; the sim's console is the user-data's output. */
const CONSOLE_BYTES = 64 * 1024;

function consoleTail(file: string): Buffer | undefined {
  let fd: number;
  try {
    fd = openSync(file, "r");
  } catch {
    return undefined;
  }
  try {
    const size = fstatSync(fd).size;
    const len = Math.min(size, CONSOLE_BYTES);
    const buf = Buffer.alloc(len);
    readSync(fd, buf, 0, len, size - len);
    return buf;
  } finally {
    closeSync(fd);
  }
}

function getConsoleOutput(w: World, input: GetConsoleOutputRequest): GetConsoleOutputResult {
  if (!input.InstanceId) throw missing("InstanceId");
  const [inst] = findInstances(w, [input.InstanceId]);
  const tail = inst ? consoleTail(join(inst.dir, "console.log")) : undefined;
  // No output yet is not an error on EC2: the Output element is just absent.
  return { InstanceId: input.InstanceId, Timestamp: new Date(w.clock.now()), Output: tail?.length ? tail.toString("base64") : undefined };
}

export const instanceOperations: Record<string, Ec2Operation> = {
  GetConsoleOutput: op<GetConsoleOutputRequest, GetConsoleOutputResult>(GetConsoleOutput$, getConsoleOutput),
  DescribeInstances: op<DescribeInstancesRequest, DescribeInstancesResult>(DescribeInstances$, describeInstances),
  TerminateInstances: op<TerminateInstancesRequest, TerminateInstancesResult>(TerminateInstances$, terminateInstances),
  CreateTags: op<CreateTagsRequest, object>(CreateTags$, (w, input) => {
    if (!input.Tags?.length) throw missing("Tag");
    for (const t of input.Tags) checkTag(t);
    return changeTags(w, input.Resources, (m) => {
      for (const t of input.Tags ?? []) m.set(t.Key ?? "", t.Value ?? "");
    });
  }),
  DeleteTags: op<DeleteTagsRequest, object>(DeleteTags$, (w, input) =>
    changeTags(w, input.Resources, (m) => {
      for (const t of input.Tags ?? []) {
        if (t.Value === undefined || m.get(t.Key ?? "") === t.Value) m.delete(t.Key ?? "");
      }
    }),
  ),
};
