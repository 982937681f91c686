export { buildOnnxModel, readOnnxMetadata, roundedToFloat16, type OnnxModelInput, type WeightType } from './onnx-graph.js';
export { exportCheckpoint, type ExportOptions, type ExportResult } from './export.js';
export { manifestEntry, modelCard, plattText, publishModel } from './models.js';
export { evaluateModels, evaluationTable, type EvaluationRow } from './evaluate.js';
export { catalogueScores, operatingPointFromScores, readCatalogue, type CatalogueRow } from './catalogue.js';
