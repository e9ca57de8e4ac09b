/** Errors after which the same query can be re-issued from the last key read. */
const RETRYABLE = new Set([
  "PROTOCOL_CONNECTION_LOST",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "ER_CONNECTION_KILLED",
  "ER_QUERY_INTERRUPTED",
  "ER_SERVER_SHUTDOWN",
  "ER_LOCK_WAIT_TIMEOUT",
  "ER_LOCK_DEADLOCK",
]);
export const isRetryableSourceError = (err: unknown) => {
  const e = err as { code?: string; errno?: number; fatal?: boolean };
  return (e.code !== undefined && RETRYABLE.has(e.code)) || e.errno === 1927 || e.errno === 1317;
};
