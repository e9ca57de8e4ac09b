import { DynamoFleetStore } from "../../controller/store/dynamo-fleet-store.ts";
import { fleetStoreContract } from "../contract/fleet-store.contract.ts";
import { tempStateTable } from "../helpers/temp-dynamo.ts";

// The FleetStore contract against DynamoDB Local, a table per case: the leader lease is one item per table, so cases
// sharing a table would see each other's leaders.
fleetStoreContract("DynamoFleetStore", async ({ clock }) => {
  const t = await tempStateTable("fleet");
  return { store: new DynamoFleetStore({ client: t.client, tableName: t.tableName, clock }), close: () => t.drop() };
});
