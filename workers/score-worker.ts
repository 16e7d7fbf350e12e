// Piscina entry for ScoringPool tasks: the logic is in src/scoring/score-task.ts.
import { runScoreTask } from '../src/scoring/score-task';

export default runScoreTask;
