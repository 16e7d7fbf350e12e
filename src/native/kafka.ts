// Types of the addon's Kafka binding (native/kafka/). Only src/native/index.ts loads the addon;
// src/io/kafka/produce-request.ts is the caller.

export interface KafkaBinding {
  /** [sync] CRC-32C (Castagnoli) of bytes[start, end), unsigned: the checksum of a v2 record batch.
   *  @throw TypeError (SLUICE_RUNTIME) unless 0 <= start <= end <= bytes.length. */
  crc32c(bytes: Uint8Array, start: number, end: number): number;
}
