// The changelog topic of a job with state per partition (SPEC §15): it must exist with at least
// as many partitions as the source, or the job stops at start saying what to create.
import type { KafkaSourceConfig } from '../../config/types';
import { SluiceError } from '../../errors';
import { KafkaClient, type PartitionLog } from './client';

export async function openChangelog(source: KafkaSourceConfig, topic: string, jobName: string, sourcePartitions: number): Promise<PartitionLog> {
  const client = new KafkaClient({ brokers: source.brokers, kafka: source.kafka, clientId: `sluice-${jobName}-changelog` });
  const create = `create it with ${sourcePartitions} partitions, compacted (kafka-topics.sh --create --topic ${topic} --partitions ${sourcePartitions} --config cleanup.policy=compact)`;
  let partitions: number;
  try {
    partitions = (await client.topicOffsets(topic)).high.length;
  } catch (e) {
    if (e instanceof SluiceError && /does not exist/.test(e.message)) throw new SluiceError('SLUICE_KAFKA', `state.changelog: topic "${topic}" does not exist on ${source.brokers.join(',')}; ${create}`);
    throw e;
  }
  if (partitions < sourcePartitions) {
    throw new SluiceError('SLUICE_KAFKA', `state.changelog: topic "${topic}" has ${partitions} partitions, and source topic "${source.topic}" ${sourcePartitions}: source partition p's state goes to changelog partition p; add partitions (kafka-topics.sh --alter --topic ${topic} --partitions ${sourcePartitions}) or ${create.replace('create it', 'use a new topic')}`);
  }
  return client.partitionLog(topic);
}
