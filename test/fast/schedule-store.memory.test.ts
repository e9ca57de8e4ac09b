import { MemoryScheduleStore } from "../../controller/store/memory-schedule-store.ts";
import { scheduleStoreContract } from "../contract/schedule-store.contract.ts";

// The ScheduleStore contract in memory: the same cases test/stack/schedule-store.contract.test.ts runs against DynamoDB.
scheduleStoreContract("MemoryScheduleStore", async ({ clock }) => ({ store: new MemoryScheduleStore({ clock }), close: async () => {} }));
