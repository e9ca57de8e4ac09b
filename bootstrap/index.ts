/**
 * bootstrap/: what turns an EC2 instance into a spotferry node, and how operators reach it. See README.md.
 *   user-data.ts        renderUserData: the cloud-init shell script (fetch + verify Node and the bundle, run the agent)
 *   launch-template.ts  renderLaunchTemplateData: image, role, security groups, IMDSv2 only, tags
 *   bundle.ts           buildAgentBundle / publishAgentBundle / presignBundle: the agent as one tar.gz in S3
 *   runtime.ts          loadNodeRuntime / publishNodeRuntime: the pinned Node binary per architecture, next to the bundle in S3
 *   tar.ts              deterministic tar.gz writer and reader (content addressing needs identical bytes)
 *   host-keys.ts        trustedHostKey: a node's SSH host key fingerprint from its console (GetConsoleOutput)
 *   ssh.ts              NodeSession / runOnNode: verified SSH, commands, the agent's log
 */
export {
  type AgentBundle,
  BUNDLE_ENTRY,
  buildAgentBundle,
  bundleKey,
  type PublishedBundle,
  presignBundle,
  publishAgentBundle,
} from "./bundle.ts";
export { parseHostKeyFingerprints, type TrustedHostKey, trustedHostKey } from "./host-keys.ts";
export { GENERATION_TAG, type LaunchTemplateOptions, MANAGED_TAG, POOL_TAG, renderLaunchTemplateData } from "./launch-template.ts";
export {
  loadNodeRuntime,
  type NodeArchitecture,
  type NodeRuntime,
  type PublishedRuntime,
  publishNodeRuntime,
  runtimeKey,
  runtimePackage,
} from "./runtime.ts";
export {
  AGENT_LOG_COMMAND,
  type ExecResult,
  HostKeyMismatchError,
  hostKeyFingerprint,
  NodeSession,
  type NodeSshTarget,
  runOnNode,
} from "./ssh.ts";
export { AGENT_SERVICE, type NodeBootstrapInput, renderUserData, shq, USER_DATA_LIMIT } from "./user-data.ts";
