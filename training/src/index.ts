export { activeBackend, tf, useBackend, type BackendName, type BackendOptions } from './backend.js';
export {
  NETWORKS,
  NETWORK_NAMES,
  atSide,
  disposeParams,
  forward,
  isNetworkName,
  localises,
  paramsFromValues,
  type NetworkName,
  type NetworkSpec,
  type Params,
} from './networks.js';
export { stepCompiles } from './native-step.js';
export { pretrainedSource } from './pretrained.js';
export { Rng } from './rng.js';
export {
  RECIPES,
  evaluate,
  localisation,
  train,
  type EpochLog,
  type Evaluation,
  type Localisation,
  type Recipe,
  type RecipeName,
  type TrainOptions,
  type TrainResult,
} from './train.js';
export { defaultThreads } from './parallel.js';
export { rebuildTestSplit, runTraining, splitScores, type RunConfig, type RunLog } from './run.js';
export { loadCheckpoint, saveCheckpoint, type Checkpoint, type CheckpointMeta } from './checkpoint.js';
export {
  buildSplits,
  buildSplitsCached,
  heldOutSources,
  type DataOptions,
  type Examples,
  type Splits,
} from './datasets/build.js';
export { PROTOCOLS, applyProtocol, type Box, type Example, type Protocol } from './datasets/protocols.js';
export { DATASET_NAMES, type DatasetName, type Split } from './datasets/sources.js';
export { writePreviewGrid } from './datasets/preview.js';
export { reliabilitySvg, writeReport } from './report.js';
export { quality, thresholdForFalseAlarms, wilson, type ModelQuality, type Rate } from './metrics.js';
export { calibrated, fitPlatt, reliability, type Platt, type ReliabilityBin } from './calibration.js';
