/**
 * Where a topic lives on Redis Cluster (#23). Redis Cluster spreads keys
 * over 16,384 hash slots; a key's slot is the CRC16 of its hash tag (the
 * text between its first `{` and the next `}`). A topic's stream, its
 * metadata and the channel its messages are published on must share one
 * slot, so the append script can touch all three. Topics are spread over
 * `PARTITIONS` partitions, and each partition has a tag chosen so the
 * partitions' slots are spread evenly over the slot space: every node can
 * then hear every topic through one shard channel per partition (there
 * is no pattern subscription for sharded pub/sub), and any even split of
 * the slots between shards gives each about the same share of partitions.
 * On one Redis server the same keys are used; slots mean nothing there.
 */

/** Partitions of the topics; each is one slot, so one shard's worth of channels and keys. */
export const PARTITIONS = 256;
const SLOTS = 16_384;

const TABLE = (() => {
  const table = new Uint16Array(256);
  for (let i = 0; i < 256; i++) {
    let crc = i << 8;
    for (let bit = 0; bit < 8; bit++) crc = crc & 0x8000 ? ((crc << 1) ^ 0x1021) & 0xffff : (crc << 1) & 0xffff;
    table[i] = crc;
  }
  return table;
})();

/** CRC16-CCITT (XMODEM), the one Redis Cluster hashes keys with. */
export function crc16(bytes: Uint8Array): number {
  let crc = 0;
  for (const byte of bytes) crc = ((crc << 8) & 0xffff) ^ TABLE[((crc >> 8) ^ byte) & 0xff]!;
  return crc;
}

/** The hash slot of a key or shard channel, by Redis Cluster's rule for hash tags. */
export function hashSlot(key: string): number {
  const open = key.indexOf('{');
  if (open >= 0) {
    const close = key.indexOf('}', open + 1);
    if (close > open + 1) key = key.slice(open + 1, close);
  }
  return crc16(Buffer.from(key, 'utf8')) % SLOTS;
}

/**
 * One tag per partition: partition `p` gets the first short name found
 * whose slot falls in the `p`-th of `PARTITIONS` equal ranges of slots.
 * Deterministic, so every node computes the same tags.
 */
const TAGS: readonly string[] = (() => {
  const tags = new Array<string>(PARTITIONS);
  const width = SLOTS / PARTITIONS;
  let found = 0;
  for (let n = 0; found < PARTITIONS; n++) {
    const tag = n.toString(36);
    const partition = Math.floor(hashSlot(tag) / width);
    if (tags[partition] === undefined) {
      tags[partition] = tag;
      found++;
    }
  }
  return tags;
})();

/** The partition a topic belongs to. */
export function partitionOf(topic: string): number {
  return crc16(Buffer.from(topic, 'utf8')) % PARTITIONS;
}

/** The hash tag (braces included) of a partition: every key and channel of its topics carries it. */
export function partitionTag(partition: number): string {
  const tag = TAGS[partition];
  if (tag === undefined) throw new RangeError(`Invalid partition: ${partition} (expected an integer from 0 to ${PARTITIONS - 1})`);
  return `{${tag}}`;
}
