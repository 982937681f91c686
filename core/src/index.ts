export {
  CONTENT_FRAMING_DESCRIPTION,
  INPUT_SIZE,
  MODEL_HEATMAP_NAME,
  MODEL_INPUT_NAME,
  MODEL_OUTPUT_NAME,
  NUM_CLASSES,
  PAPER_SQUARE_SIZE,
  preprocessingDescription,
  anomalyScores,
  inputShape,
  inputShapeOf,
  scoreLogit,
} from './contract.js';
export { greyToInput, preprocess, type GreyImage, type RgbaImage } from './preprocess.js';
export { BlankspotError, ERROR_STATUS, isBlankspotError, toErrorBody, type ErrorBody, type ErrorCode } from './errors.js';
export { LIMITS } from './limits.js';
export { DEFAULT_THRESHOLD, verdictFromScore, type CheckResult, type Verdict } from './verdict.js';
export {
  MANIFEST_VERSION,
  SENSITIVITIES,
  VIEWS,
  findModel,
  framingOf,
  inputSizeOf,
  parseManifest,
  sha256Hex,
  thresholdFor,
  verifyModelBytes,
  wantsCloserLook,
  withCloserLook,
  closerLookProblem,
  type LocalisationMetrics,
  type ModelEntry,
  type ModelManifest,
  type ModelMetrics,
  type Sensitivity,
  type Views,
  type CloserLook,
} from './manifest.js';
export { ALLOWED_IMAGE_TYPES, inspectImage, sniffImageType, type ImageInfo, type ImageType } from './image-format.js';
export { applyOrientation, readExifOrientation } from './orientation.js';
export { decodeCmykJpeg, isCmykJpeg, type JpegJsDecode } from './cmyk-jpeg.js';
export { firstWebpFrame } from './webp-frames.js';
export {
  boxFromHeatmap,
  heatmapFromTensor,
  heatmapOf,
  iou,
  unseenSides,
  UPLOAD_SIDE_SHARES,
  type Heatmap,
  type RectangleSides,
} from './heatmap.js';
export type { Box } from './box.js';
export {
  JPEG_MARKER,
  JpegStructureError,
  entropyCodedEnd,
  findJpegSegment,
  isFrameMarker,
  jpegSegments,
  type JpegSegment,
} from './jpeg-segments.js';
export {
  blockMeansCover,
  jpegLumaBlockMeans,
  frameCellSide,
  jpegLumaPairMeans,
  jpegLumaQuarterMeans,
  jpegScanIndex,
  jpegToInput,
  type BlockRead,
  type JpegBlockMeans,
  type JpegLumaCells,
  type JpegScanIndex,
  type LumaCellSide,
} from './jpeg/index.js';
export {
  FRAMINGS,
  findFrames,
  framedInputs,
  frameToInput,
  photoBoxToInput,
  preprocessFramed,
  rgbaCells,
  type Frame,
  type FramedInput,
  type FramedLook,
  type Frames,
  type Framing,
} from './framing.js';
export {
  contractOutputs,
  ortSessionPort,
  type OrtLike,
  type OrtSessionLike,
  type ImageDecoder,
  type InferenceSession,
  type ModelOutputs,
  type ModelRuntime,
} from './pipeline/ports.js';
export { modelFolder } from './pipeline/model-folder.js';
export { ModelRegistry, type ModelState } from './pipeline/registry.js';
export { batchOf, closerViewsOf, flipInputs, mirrorInputs, runModel, viewsOf } from './pipeline/views.js';
export {
  checkImage,
  modelInput,
  type CheckOptions,
  type CheckOutcome,
  type ImageLimits,
  type ModelInput,
} from './pipeline/check.js';
