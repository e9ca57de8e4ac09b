import { z } from "zod";
import { durationSeconds } from "./units.ts";

const hhmm = z.string().regex(/^([01]\d|2[0-3]):[0-5]\d$/, 'expected a time of day like "02:30"');
const weekday = z.enum(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);

export const poolSpec = z
  .object({
    kind: z.literal("Pool"),
    name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, "must be lowercase letters, digits and hyphens (max 63)"),
    /** Diversification: the fleet may launch any of these types, in any of these subnets. */
    instanceTypes: z
      .array(
        z.union([
          z.string().regex(/^[a-z][a-z0-9-]*\.[a-z0-9]+$/, 'expected an instance type like "m6i.large"'),
          z.object({ type: z.string(), weight: z.number().int().min(1).default(1) }).strict(),
        ]),
      )
      .min(1),
    subnets: z.array(z.string().regex(/^subnet-[0-9a-z]+$/, 'expected a subnet id like "subnet-0abc"')).min(1),
    imageId: z.string().regex(/^ami-[0-9a-z]+$/, 'expected an AMI id like "ami-0abc"'),
    securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-z]+$/)).default([]),
    instanceProfileArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::/)
      .optional(),
    keyName: z.string().optional(),
    capacity: z
      .object({
        min: z.number().int().min(0).default(0),
        max: z.number().int().min(1),
        /** Nodes kept on-demand whatever happens to spot. */
        onDemandBase: z.number().int().min(0).default(0),
        /** Partitions one node works on at once; desired nodes = ceil(pending partitions / this). */
        partitionsPerNode: z.number().int().min(1).max(64).default(1),
      })
      .strict()
      .refine((c) => c.min <= c.max, { message: "min must not exceed max", path: ["min"] })
      .refine((c) => c.onDemandBase <= c.max, { message: "onDemandBase must not exceed max", path: ["onDemandBase"] }),
    purchase: z.enum(["spot", "on-demand"]).default("spot"),
    allocationStrategy: z
      .enum(["price-capacity-optimized", "capacity-optimized", "lowest-price", "diversified"])
      .default("price-capacity-optimized"),
    /** Fall back to on-demand when spot capacity cannot be had for this long; unset: never. */
    onDemandFallbackAfter: durationSeconds.optional(),
    maxSpotPrice: z.number().positive().optional(),
    bootTimeout: durationSeconds.default(600),
    maxNodeAge: durationSeconds.optional(),
    rotationWindow: z
      .object({ days: z.array(weekday).min(1).optional(), start: hhmm, end: hhmm, timezone: z.string().default("UTC") })
      .strict()
      .optional(),
    disruptionBudget: z
      .object({
        /** Nodes (or a percentage of the pool, "25%") that may be draining at once. */
        maxUnavailable: z
          .union([z.number().int().min(1), z.string().regex(/^\d{1,3}%$/, 'expected a count or a percentage like "25%"')])
          .default(1),
      })
      .strict()
      .default({ maxUnavailable: 1 }),
    drainTimeout: durationSeconds.default(900),
    tags: z.record(z.string(), z.string()).default({}),
  })
  .strict();

export type PoolSpec = z.infer<typeof poolSpec>;
