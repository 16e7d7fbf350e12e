// Model versions as records carry them (SPEC §12): 12 hex digits of a SHA-256.
import { createHash } from 'node:crypto';

const sha12 = (data: Uint8Array | string) => createHash('sha256').update(data).digest('hex').slice(0, 12);

/** A file or URL model: of its bytes. */
export const bytesVersion = (bytes: Uint8Array): string => sha12(bytes);

/** An ensemble: of its members' versions joined by commas, in `members` order. */
export const ensembleVersion = (memberVersions: readonly string[]): string => sha12(memberVersions.join(','));
