// Every suite `sluice bench` knows, in the order a bare `sluice bench` runs them.

import type { Suite } from '../harness';
import { poolSuite } from './pool';
import { xgboostSuite } from './xgboost';

export const suites: Suite[] = [xgboostSuite, poolSuite];
