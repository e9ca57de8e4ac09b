import { z } from "zod";
import { count, duration } from "./units.ts";

const HOUR = 3600;
const DAY = 86400;
/** Nodes a pool may hold: far beyond any fleet, low enough that a typo (an extra 0s) is caught. */
const MAX_NODES = 10_000;

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
          z.object({ type: z.string(), weight: count(1, 1000).default(1) }).strict(),
        ]),
      )
      .min(1),
    subnets: z.array(z.string().regex(/^subnet-[0-9a-z]+$/, 'expected a subnet id like "subnet-0abc"')).min(1),
    imageId: z.string().regex(/^ami-[0-9a-z]+$/, 'expected an AMI id like "ami-0abc"'),
    /** The image's architecture (EC2's name): which Node runtime the nodes get; every instance type must run it. */
    architecture: z.enum(["x86_64", "arm64"]).default("x86_64"),
    securityGroupIds: z.array(z.string().regex(/^sg-[0-9a-z]+$/)).default([]),
    instanceProfileArn: z
      .string()
      .regex(/^arn:aws[a-z-]*:iam::/)
      .optional(),
    keyName: z.string().optional(),
    capacity: z
      .object({
        min: count(0, MAX_NODES).default(0),
        max: count(1, MAX_NODES),
        /** Nodes kept on-demand whatever happens to spot. */
        onDemandBase: count(0, MAX_NODES).default(0),
        /** Partitions one node works on at once; desired nodes = ceil(pending partitions / this). */
        partitionsPerNode: count(1, 64).default(1),
      })
      .strict()
      .refine((c) => c.min <= c.max, { message: "min must not exceed max", path: ["min"] })
      .refine((c) => c.onDemandBase <= c.max, { message: "onDemandBase must not exceed max", path: ["onDemandBase"] }),
    purchase: z.enum(["spot", "on-demand"]).default("spot"),
    allocationStrategy: z
      .enum(["price-capacity-optimized", "capacity-optimized", "lowest-price", "diversified"])
      .default("price-capacity-optimized"),
    /** Fall back to on-demand when spot capacity cannot be had for this long; unset: never. */
    onDemandFallbackAfter: duration({ max: 7 * DAY }).optional(),
    /** USD per hour. */
    maxSpotPrice: z.number().positive().max(1000).optional(),
    bootTimeout: duration({ min: 1, max: 2 * HOUR }).default(600),
    maxNodeAge: duration({ min: 60, max: 365 * DAY }).optional(),
    rotationWindow: z
      .object({ days: z.array(weekday).min(1).optional(), start: hhmm, end: hhmm, timezone: z.string().default("UTC") })
      .strict()
      .optional(),
    disruptionBudget: z
      .object({
        /** Nodes (or a percentage of the pool, "25%") that may be draining at once. */
        maxUnavailable: z
          .union([
            count(1, MAX_NODES),
            z
              .string()
              .regex(/^\d{1,3}%$/, 'expected a count or a percentage like "25%"')
              .refine((p) => Number.parseInt(p, 10) >= 1 && Number.parseInt(p, 10) <= 100, "expected a percentage from 1% to 100%"),
          ])
          .default(1),
      })
      .strict()
      .default({ maxUnavailable: 1 }),
    drainTimeout: duration({ min: 1, max: 2 * DAY }).default(900),
    /** EC2's limits: 50 tags a resource (spotferry adds its own), keys up to 128 characters, values up to 256. */
    tags: z
      .record(z.string().min(1).max(128), z.string().max(256))
      .refine((t) => Object.keys(t).length <= 40, "at most 40 tags (EC2 allows 50 and spotferry adds its own)")
      .default({}),
  })
  .strict();

export type PoolSpec = z.infer<typeof poolSpec>;
