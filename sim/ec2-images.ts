import { DescribeImages$, type DescribeImagesRequest, type DescribeImagesResult, type Image } from "@aws-sdk/client-ec2";
import { type Ec2Operation, op } from "./ec2-common.ts";
import { Ec2Error } from "./ec2-errors.ts";
import { ACCOUNT_ID } from "./iam/identities.ts";

/**
 * DescribeImages for the ids a caller names. The sim has no image catalogue: every well-formed `ami-...` id is an
 * available x86_64 Linux image owned by the account (as RunInstances and CreateFleet accept any id), a malformed one
 * is InvalidAMIID.Malformed, as EC2 answers; without ImageIds the list is empty (nothing is registered).
 */
const AMI_ID = /^ami-[0-9a-z]+$/;

const image = (id: string): Image => ({
  ImageId: id,
  Name: `spotferry-sim-${id}`,
  State: "available",
  Architecture: "x86_64",
  OwnerId: ACCOUNT_ID,
  ImageType: "machine",
  Public: false,
  RootDeviceType: "ebs",
  RootDeviceName: "/dev/xvda",
  VirtualizationType: "hvm",
  Hypervisor: "xen",
  PlatformDetails: "Linux/UNIX",
  EnaSupport: true,
});

export const imageOperations: Record<string, Ec2Operation> = {
  DescribeImages: op<DescribeImagesRequest, DescribeImagesResult>(DescribeImages$, (_w, input) => {
    const ids = input.ImageIds ?? [];
    for (const id of ids) if (!AMI_ID.test(id)) throw new Ec2Error("InvalidAMIID.Malformed", `Invalid id: "${id}" (expecting "ami-...")`);
    return { Images: ids.map(image) };
  }),
};
