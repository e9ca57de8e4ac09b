/**
 * An IAM policy document as AWS stores it (JSON, `Version` 2012-10-17). `spotferry iam policy` prints these
 * (controller/iam/); the sim evaluates them for the roles it knows (sim/iam/). Only the parts both need are typed:
 * Allow/Deny statements with Action/NotAction, Resource and a Condition block of string and boolean operators.
 */
export const POLICY_VERSION = "2012-10-17";

export type ConditionOperator =
  | "StringEquals"
  | "StringNotEquals"
  | "StringLike"
  | "StringNotLike"
  | "ArnEquals"
  | "ArnLike"
  | "Bool"
  | "Null"
  | "ForAllValues:StringEquals"
  | "ForAllValues:StringLike"
  | "ForAnyValue:StringEquals"
  | "ForAnyValue:StringLike";

/** `{ StringEquals: { "aws:RequestTag/spotferry:pool": "etl" } }`: operator -> condition key -> value(s). */
export type ConditionBlock = Partial<Record<ConditionOperator, Record<string, string | string[]>>>;

export interface PolicyStatement {
  /** Names why the statement exists; statements for rare calls say which call in their Sid. */
  Sid?: string;
  Effect: "Allow" | "Deny";
  Action?: string | string[];
  NotAction?: string | string[];
  Resource: string | string[];
  Condition?: ConditionBlock;
}

export interface PolicyDocument {
  Version: typeof POLICY_VERSION;
  Statement: PolicyStatement[];
}

/** One authorisation question: may the caller do `action` (e.g. "ec2:RunInstances") on `resource` (an ARN or "*")? */
export interface AuthorizationRequest {
  action: string;
  resource: string;
  /** Condition keys of the request, e.g. "aws:RequestTag/spotferry:pool", "ec2:ResourceTag/spotferry:pool". */
  context?: Record<string, string | string[] | undefined>;
}

export const asList = <T>(v: T | T[] | undefined): T[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

/**
 * Statements whose Sid starts with this grant actions only a rare call needs (aborting an orphan upload, creating the
 * state table): coverage (sim/iam/coverage.ts) does not require a test to exercise them. The rest of the Sid names the call.
 */
export const RARE_SID_PREFIX = "Rare";

export const isRareStatement = (s: PolicyStatement) => (s.Sid ?? "").startsWith(RARE_SID_PREFIX);
