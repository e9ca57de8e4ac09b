import { DynamoScheduleStore } from "../../controller/store/dynamo-schedule-store.ts";
import { scheduleStoreContract } from "../contract/schedule-store.contract.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

// The ScheduleStore contract against DynamoDB Local, a table per case so listSchedules sees only the case's own.
scheduleStoreContract("DynamoScheduleStore", async ({ clock }) => {
  const t = await tempStateTable("sched");
  return { store: new DynamoScheduleStore({ client: t.client, tableName: t.tableName, clock }), close: () => t.drop() };
});
