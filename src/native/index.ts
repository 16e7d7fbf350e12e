// The one place that loads the addon. Everything native goes through the types imported here.
import * as path from 'node:path';
import { SluiceError } from '../errors';
import type { DecodeBinding } from './decode';
import type { JsonBinding } from './json';
import type { KafkaBinding } from './kafka';
import type { RecordsBinding } from './records';
import type { ArenaDigestBinding, TDigestBinding } from './tdigest';
import type { XgbBinding } from './xgboost';

export type NativeAddon = XgbBinding & TDigestBinding & ArenaDigestBinding & DecodeBinding & KafkaBinding & RecordsBinding & JsonBinding;

// Compiled to dist/src/native/index.js; the addon is built to build/native/Release/ at the root.
// SLUICE_ADDON_PATH swaps in another build, e.g. the sanitizer one (npm run test:asan).
const addonPath =
  (process.env.SLUICE_ADDON_PATH && path.resolve(process.env.SLUICE_ADDON_PATH)) || path.join(__dirname, '..', '..', '..', 'build', 'native', 'Release', 'sluice.node');

function load(): NativeAddon {
  try {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    return require(addonPath) as NativeAddon;
  } catch (e) {
    throw new SluiceError(
      'SLUICE_NATIVE_MISSING',
      `the native addon could not be loaded from ${addonPath}: run \`npm run build\` (needs cmake and a C++17 compiler)`,
      { cause: e },
    );
  }
}

export const native: NativeAddon = load();
