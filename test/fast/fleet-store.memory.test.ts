import { MemoryFleetStore } from "../../controller/store/memory-fleet-store.ts";
import { fleetStoreContract } from "../contract/fleet-store.contract.ts";

// The FleetStore contract in memory: the same cases test/stack/fleet-store.contract.test.ts runs against DynamoDB.
fleetStoreContract("MemoryFleetStore", async ({ clock }) => ({ store: new MemoryFleetStore({ clock }), close: async () => {} }));
