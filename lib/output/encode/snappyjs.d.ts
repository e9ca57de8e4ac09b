/** snappyjs ships no types: the one function the Parquet writer uses. */
declare module "snappyjs" {
  const snappyjs: { compress(input: Uint8Array): Uint8Array };
  export default snappyjs;
}
