// Types of the addon's Kafka binding (native/kafka/). Only src/native/index.ts loads the addon;
// src/io/kafka/produce-request.ts and the key table (src/decode/key-names.ts) are the callers.

export interface KafkaBinding {
  /** [sync] CRC-32C (Castagnoli) of bytes[start, end), unsigned: the checksum of a v2 record batch.
   *  @throw TypeError (SLUICE_RUNTIME) unless 0 <= start <= end <= bytes.length. */
  crc32c(bytes: Uint8Array, start: number, end: number): number;
  /** [sync] Kafka's murmur2 of bytes[start, end), signed 32-bit, as the Java client and kafkajs's
   *  default partitioner compute it: a keyed record's partition is (h & 0x7fffffff) % partitions.
   *  @throw TypeError (SLUICE_RUNTIME) unless 0 <= start <= end <= bytes.length. */
  murmur2(bytes: Uint8Array, start: number, end: number): number;
}
