/**
 * An error EC2 itself would return: its code is what the SDK exposes as the exception's `name`. Client errors answer
 * HTTP 400; throttling 503; capacity and internal errors 500, as EC2 does.
 */
export class Ec2Error extends Error {
  readonly code: string;
  readonly status: number;
  constructor(code: string, message: string, status = 400) {
    super(message);
    this.name = "Ec2Error";
    this.code = code;
    this.status = status;
  }
}

export const missing = (param: string) => new Ec2Error("MissingParameter", `The request must contain the parameter ${param}`);

export const invalidValue = (param: string, value: unknown, why: string) =>
  new Ec2Error("InvalidParameterValue", `Value (${String(value)}) for parameter ${param} is invalid. ${why}`);

export const combination = (message: string) => new Ec2Error("InvalidParameterCombination", message);
