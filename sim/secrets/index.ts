import { SecretStore } from "./secrets-manager.ts";
import { ParameterStore } from "./ssm.ts";

export { handleSecretsManager, SECRETS_MANAGER_TARGET_PREFIX } from "./secrets-manager.ts";
export { handleSsm, SSM_TARGET_PREFIX } from "./ssm.ts";

/** What one sim holds for Secrets Manager and SSM Parameter Store (in memory; gone when the sim stops). */
export class SimSecrets {
  readonly secretsManager = new SecretStore();
  readonly parameters = new ParameterStore();
}
