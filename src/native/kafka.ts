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
  /**
   * [sync] The records section of a record batch for records row[i] of sources[source[i]]
   * (EncodedRecords columns), i < count, as kafkajs writes it: the first timestamp is the smallest
   * given one; records without one get nowMs. With out null it only measures; otherwise it writes
   * the `bytes` it measured into out.
   * @throw TypeError (SLUICE_RUNTIME) on a record not in its source, or out too small.
   */
  encodeKafkaRecords(sources: EncodedRecordColumns[], source: Int32Array, row: Int32Array, count: number, nowMs: number, out: Uint8Array | null): { bytes: number; firstTimestampMs: number; maxTimestampMs: number };
}

/** What encodeKafkaRecords reads of an EncodedRecords (src/records/encoded.ts). */
export interface EncodedRecordColumns {
  values: Uint8Array;
  valueEnd: Int32Array;
  keys: Uint8Array;
  keyEnd: Int32Array;
  flags: Uint8Array;
  timestampMs: Float64Array;
}
