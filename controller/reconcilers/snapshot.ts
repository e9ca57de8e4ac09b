import type { NodeRecord } from "../../config/records.ts";
import type { CloudInstance } from "../cloud/cloud-provider.ts";
import type { PoolWork } from "./context.ts";

/** Method names of the ports that only read; every other call may write and drops what a snapshot holds. */
const READS = /^(get|list|describe|progress|refresh|spotPrices|onDemandPrice|zoneOfSubnet|stats)/;

/**
 * One view of the cluster per reconcile pass, shared by every reconciler of the pass (as Karpenter's cluster state is
 * shared by its controllers): each pool's work (its exports' PENDING and LEASED partitions) and its nodes and
 * instances are read once, not once per reconciler. What a reconciler writes through the ports of the pass's
 * context (watched by `watch`) drops the snapshot, so the reconcilers after it read the world they changed, never
 * a stale one: in a quiet pass (nothing to do, the usual case) the reads happen once; in a busy one, again after a
 * write.
 */
export class ClusterSnapshot {
  private readonly works = new Map<string, Promise<PoolWork>>();
  private readonly nodeLists = new Map<string, Promise<NodeRecord[]>>();
  private readonly instanceLists = new Map<string, Promise<CloudInstance[]>>();
  /** Reads this snapshot saved, for the benchmark and the per-pass figures. */
  saved = 0;

  work(pool: string, load: () => Promise<PoolWork>): Promise<PoolWork> {
    return this.memo(this.works, pool, load);
  }

  nodes(pool: string, load: () => Promise<NodeRecord[]>): Promise<NodeRecord[]> {
    return this.memo(this.nodeLists, pool, load);
  }

  instances(pool: string, load: () => Promise<CloudInstance[]>): Promise<CloudInstance[]> {
    return this.memo(this.instanceLists, pool, load);
  }

  invalidate(): void {
    this.works.clear();
    this.nodeLists.clear();
    this.instanceLists.clear();
  }

  /** The port with every call that may write dropping this snapshot first (reads pass through untouched). */
  watch<T extends object>(port: T): T {
    return new Proxy(port, {
      get: (target, prop, receiver) => {
        const value = Reflect.get(target, prop, receiver);
        if (typeof value !== "function" || typeof prop !== "string" || READS.test(prop)) {
          return typeof value === "function" ? value.bind(target) : value;
        }
        return (...args: unknown[]) => {
          this.invalidate();
          return value.apply(target, args);
        };
      },
    });
  }

  private memo<V>(cache: Map<string, Promise<V>>, key: string, load: () => Promise<V>): Promise<V> {
    const hit = cache.get(key);
    if (hit) {
      this.saved++;
      return hit;
    }
    // A failed read is not kept: the next reconciler tries again.
    const p = load().catch((err) => {
      cache.delete(key);
      throw err;
    });
    cache.set(key, p);
    return p;
  }
}
