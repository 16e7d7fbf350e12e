// Every suite `sluice bench` knows, in the order a bare `sluice bench` runs them.

import type { Suite } from '../harness';
import { decodeSuite } from './decode';
import { kafkaSuite } from './kafka';
import { memorySuite } from './memory';
import { metricsSuite } from './metrics';
import { perEventSuite } from './per-event';
import { pipelineSuite } from './pipeline';
import { poolSuite } from './pool';
import { reloadSuite } from './reload';
import { scaleOutSuite } from './scale-out';
import { serveSuite } from './serve';
import { stateSuite } from './state';
import { tdigestSuite } from './tdigest';
import { xgboostSuite } from './xgboost';

export const suites: Suite[] = [xgboostSuite, tdigestSuite, decodeSuite, pipelineSuite, metricsSuite, kafkaSuite, reloadSuite, perEventSuite, stateSuite, memorySuite, poolSuite, serveSuite, scaleOutSuite];
